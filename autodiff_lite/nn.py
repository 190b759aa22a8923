"""Neural-network building blocks.

Scalar, micrograd-style: `Neuron`, `Layer`, `MLP` built from `Value`s, so every
weight and every gradient is a number a student can print.
"""
import random

from .value import Value

__all__ = ['Module', 'Neuron', 'Layer', 'MLP']


class Module:
    """Anything with parameters: `parameters()` lists them, `zero_grad()` clears them."""

    def parameters(self):
        return []

    def zero_grad(self):
        for p in self.parameters():
            p.zero_grad()


class Neuron(Module):
    """act(w . x + b) with w drawn uniformly from [-1, 1]; `nonlin=False` for a linear output."""

    def __init__(self, nin, nonlin=True, rng=None, activation='relu'):
        rng = rng or random.Random(0)
        self.w = [Value(rng.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin
        self.activation = activation

    def __call__(self, x):
        if len(x) != len(self.w):
            raise ValueError(f'this neuron takes {len(self.w)} inputs, got {len(x)}')
        act = Value.dot(self.w, x) + self.b      # one node for w . x
        if not self.nonlin:
            return act
        return act.relu() if self.activation == 'relu' else act.tanh()

    def parameters(self):
        return self.w + [self.b]

    def __repr__(self):
        kind = self.activation.capitalize() if self.nonlin else 'Linear'
        return f'{kind}Neuron({len(self.w)})'


class Layer(Module):
    """`nout` neurons, each seeing every input."""

    def __init__(self, nin, nout, rng=None, **kwargs):
        rng = rng or random.Random(0)
        self.neurons = [Neuron(nin, rng=rng, **kwargs) for _ in range(nout)]

    def __call__(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self):
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """Multi-layer perceptron: `MLP(2, [16, 16, 1])`. Hidden layers use `activation`
    ('relu' or 'tanh'); the last layer is linear. Weights are seeded by `seed`."""

    def __init__(self, nin, nouts, seed=0, activation='relu'):
        if isinstance(nouts, int):
            nouts = [nouts]
        if nin < 1 or not nouts or min(nouts) < 1:
            raise ValueError(f'MLP needs nin >= 1 and layer sizes >= 1, got nin={nin}, nouts={nouts}')
        if activation not in ('relu', 'tanh'):
            raise ValueError(f"activation must be 'relu' or 'tanh', got {activation!r}")
        rng = random.Random(seed)
        sizes = [nin] + list(nouts)
        self.nin, self.nouts = nin, list(nouts)
        self.layers = [Layer(sizes[i], sizes[i + 1], rng=rng, activation=activation,
                             nonlin=i != len(nouts) - 1)
                       for i in range(len(nouts))]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        """Layer by layer, neuron by neuron, weights then bias (micrograd's order)."""
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self):
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
