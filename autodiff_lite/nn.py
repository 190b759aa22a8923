"""Neural-network building blocks.

Scalar, micrograd-style: `Neuron`, `Layer`, `MLP` built from `Value`s, so every
weight and every gradient is a number a student can print.

Tensor, PyTorch-style: `Linear`, `ReLU`, `Tanh`, `Sequential` (and `mlp(...)`
to build one), the losses `cross_entropy` and `mse`, the optimizers `SGD` and
`Adam` (they work on `Value` and `Tensor` parameters alike), and `fit`, a small
training loop that reports progress through a callback.
"""
import numbers
import random

import numpy as np

from .modes import no_grad as no_grad_ctx
from .losses import cross_entropy, mse
from .tensor import Tensor, rule_node
from .value import Value

__all__ = ['Module', 'Stack', 'Neuron', 'Layer', 'MLP',
           'Linear', 'ReLU', 'Tanh', 'Sigmoid', 'Sequential', 'mlp',
           'cross_entropy', 'mse', 'SGD', 'Adam', 'fit', 'make_step', 'accuracy']


class Module:
    """Anything with parameters: `parameters()` lists them, `zero_grad()` clears them."""

    def parameters(self):
        return []

    def zero_grad(self):
        for p in self.parameters():
            p.zero_grad()


class Stack(Module):
    """Layers applied in turn (`self.layers`): what MLP and Sequential share."""

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        """Layer by layer, in order (for an MLP: neuron by neuron, weights then bias, micrograd's order)."""
        return [p for layer in self.layers for p in layer.parameters()]


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


class MLP(Stack):
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


    def __repr__(self):
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"


# --- tensor modules -------------------------------------------------------------------
class Linear(Module):
    """y = x @ w + b with w of shape (nin, nout) and b of shape (nout,).

    Weights are drawn uniformly from [-1/sqrt(nin), 1/sqrt(nin)] (PyTorch's
    default range) by a generator seeded with `seed`; b starts at 0.
    (PyTorch stores the transpose, (nout, nin), and computes x @ W.T.)
    """

    def __init__(self, nin, nout, bias=True, seed=0, dtype=np.float64):
        if nin < 1 or nout < 1:
            raise ValueError(f'Linear needs nin >= 1 and nout >= 1, got nin={nin}, nout={nout}')
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(nin)
        self.nin, self.nout = nin, nout
        self.w = Tensor(rng.uniform(-bound, bound, size=(nin, nout)).astype(dtype), requires_grad=True)
        self.b = Tensor(np.zeros(nout, dtype=dtype), requires_grad=True) if bias else None

    def __call__(self, x):
        if not isinstance(x, Tensor):
            x = Tensor(x, dtype=self.w.dtype)
        if x.data.shape[-1:] != (self.nin,):
            raise ValueError(f'Linear({self.nin}, {self.nout}) takes inputs of shape (batch, {self.nin}), '
                             f'got {x.shape}')
        # one `linear` node for x @ w + b (faster than a matmul node and an add node)
        return rule_node('linear', (x, self.w, self.b)) if self.b is not None else x @ self.w

    def parameters(self):
        return [self.w] if self.b is None else [self.w, self.b]

    def __repr__(self):
        return f'Linear({self.nin}, {self.nout}{"" if self.b is not None else ", bias=False"})'


class _Activation(Module):
    """An entrywise function as a layer: calls the tensor method named `op`."""
    op = ''

    def __call__(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f'{type(self).__name__}() takes a Tensor, got {type(x).__name__}: '
                            f'wrap arrays with Tensor(...)')
        return getattr(x, self.op)()             # Tensor.relu, .tanh, .sigmoid

    def __repr__(self):
        return f'{type(self).__name__}()'


class ReLU(_Activation):
    """max(x, 0), entrywise."""
    op = 'relu'


class Tanh(_Activation):
    """tanh(x), entrywise."""
    op = 'tanh'


class Sigmoid(_Activation):
    """1 / (1 + e^-x), entrywise."""
    op = 'sigmoid'


class Sequential(Stack):
    """Modules applied one after another: Sequential(Linear(2, 16), ReLU(), Linear(16, 1))."""

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        self.layers = list(layers)


    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __repr__(self):
        inner = ''.join(f'\n  ({i}): {layer!r}' for i, layer in enumerate(self.layers))
        return f'Sequential({inner}\n)'


def mlp(sizes, activation='relu', seed=0, dtype=np.float64):
    """A tensor MLP: mlp([2, 64, 64, 1]) = Linear, act, Linear, act, Linear (linear output).

    Layer k is seeded with seed + k, so the whole network is reproducible."""
    acts = {'relu': ReLU, 'tanh': Tanh, 'sigmoid': Sigmoid}
    if activation not in acts:
        raise ValueError(f'activation must be one of {sorted(acts)}, got {activation!r}')
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f'mlp needs at least an input and an output size, got {sizes}')
    layers = []
    for k in range(len(sizes) - 1):
        layers.append(Linear(sizes[k], sizes[k + 1], seed=seed + k, dtype=dtype))
        if k < len(sizes) - 2:
            layers.append(acts[activation]())
    return Sequential(*layers)


# --- optimizers: Value and Tensor parameters alike ---------------------------------------
def _param_list(params, name):
    params = list(params.parameters() if isinstance(params, Module) else params)
    if not params:
        raise ValueError(f'{name} got no parameters: pass model.parameters()')
    for p in params:
        if not isinstance(p, (Value, Tensor)) or not p.requires_grad:
            raise TypeError(f'{name}: every parameter must be a Value or a Tensor with '
                            f'requires_grad=True, got {p!r}')
    return params


class SGD:
    """p <- p - lr * v, with v = momentum * v + grad (v = grad when momentum = 0)."""

    def __init__(self, params, lr=0.01, momentum=0.0):
        if lr <= 0 or not 0 <= momentum < 1:
            raise ValueError(f'SGD needs lr > 0 and 0 <= momentum < 1, got lr={lr}, momentum={momentum}')
        self.params = _param_list(params, 'SGD')
        self.lr, self.momentum = lr, momentum
        self.velocity = [None] * len(self.params)

    def step(self):
        lr, m = self.lr, self.momentum
        for i, p in enumerate(self.params):
            g = p.grad
            if g is None:                 # a Tensor that got no gradient: leave it
                continue
            if m:
                v = self.velocity[i]
                g = self.velocity[i] = g + 0.0 if v is None else m * v + g
            p.data -= lr * g              # in place for arrays, rebinds for floats

    def zero_grad(self):
        for p in self.params:
            p.zero_grad()


class Adam:
    """Adam (Kingma & Ba): m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
    p <- p - lr * m_hat / (sqrt(v_hat) + eps), with the bias corrections
    m_hat = m / (1 - b1^t) and v_hat = v / (1 - b2^t)."""

    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8):
        betas = tuple(betas)
        if lr <= 0 or len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f'Adam needs lr > 0 and two betas in [0, 1), got lr={lr}, betas={betas}')
        self.params = _param_list(params, 'Adam')
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)
        self.t = 0                          # step() calls
        self.steps = [0] * len(self.params)  # per parameter: the steps it got a gradient in (as PyTorch)

    def step(self):
        self.t += 1
        b1, b2 = self.betas
        for i, p in enumerate(self.params):
            g = p.grad
            if g is None:                 # a Tensor that got no gradient: leave it
                continue
            self.steps[i] += 1
            c1, c2 = 1 - b1 ** self.steps[i], 1 - b2 ** self.steps[i]
            self.m[i] = b1 * self.m[i] + (1 - b1) * g
            self.v[i] = b2 * self.v[i] + (1 - b2) * (g * g)
            p.data -= self.lr * (self.m[i] / c1) / ((self.v[i] / c2) ** 0.5 + self.eps)

    def zero_grad(self):
        for p in self.params:
            p.zero_grad()


# --- a small training loop ------------------------------------------------------------
def accuracy(pred, y):
    """Fraction of rows classified right: argmax for several outputs; for one output,
    pred > 0.5 for 0/1 labels and pred > 0 for -1/+1 labels. None for other targets."""
    pred = np.asarray(pred.data if isinstance(pred, Tensor) else pred)
    y = np.asarray(y)
    if pred.ndim == 2 and pred.shape[1] > 1:
        if y.shape != pred.shape[:1]:             # not one class index per row: regression targets
            return None
        return float(np.mean(pred.argmax(axis=1) == y))
    pred = pred.reshape(-1)
    labels = set(np.unique(y).tolist())
    if labels <= {0, 1}:
        return float(np.mean((pred > 0.5) == (y.reshape(-1) > 0.5)))
    if labels <= {-1, 1}:
        return float(np.mean((pred > 0) == (y.reshape(-1) > 0)))
    return None


def _prepare(model, X, y, loss):
    """X as the model's dtype, y, and the loss function, with clear errors."""
    params = model.parameters()
    if not params or not isinstance(params[0], Tensor):
        raise TypeError('fit trains tensor models (Linear, Sequential, mlp(...)); '
                        'for the scalar MLP write the loop by hand (lesson 05)')
    dtype = params[0].dtype
    X = np.asarray(X.data if isinstance(X, Tensor) else X, dtype=dtype)
    y = np.asarray(y.data if isinstance(y, Tensor) else y)
    if len(X) != len(y):
        raise ValueError(f'fit: X has {len(X)} rows but y has {len(y)}')
    if loss == 'cross_entropy':
        loss_fn = cross_entropy
    elif loss == 'mse':
        y = y.astype(dtype)

        def loss_fn(pred, target):
            if target.size != pred.data.size:
                raise ValueError(f"fit(loss='mse'): the model gives {pred.shape} outputs but y has "
                                 f"shape {target.shape}: give y one column per output")
            return mse(pred, target.reshape(pred.shape))
    elif callable(loss):
        loss_fn = loss
    else:
        raise ValueError(f"loss must be 'cross_entropy', 'mse' or a function, got {loss!r}")
    return params, X, y, loss_fn


def make_step(model, X, y, loss='cross_entropy', optimizer=None):
    """A function step(lr=None) -> loss doing one full-batch training step, the shape
    widgets.training_dashboard expects. `lr`, when given, sets the optimizer's rate."""
    params, X, y, loss_fn = _prepare(model, X, y, loss)
    optimizer = optimizer or SGD(params, lr=0.1)
    xb = Tensor(X)

    def step(lr=None):
        if lr is not None:
            optimizer.lr = lr
        L = loss_fn(model(xb), y)
        optimizer.zero_grad()
        L.backward()
        optimizer.step()
        return L.item()
    return step


def fit(model, X, y, loss='cross_entropy', optimizer=None, epochs=100, batch_size=None,
        callback=None, every=1, seed=0):
    """Train `model` on (X, y) and return the history, a list of dicts
    {'epoch', 'loss', 'accuracy'} (one per epoch; loss is the epoch's mean batch loss).

    loss: 'cross_entropy' (y: class indices), 'mse' (y: numbers, reshaped to the
    output's shape) or a function loss(pred, y) -> scalar Tensor.
    optimizer: defaults to Adam(model.parameters(), lr=0.01).
    batch_size: None for full batch; otherwise batches shuffled by `seed`.
    callback(info) runs every `every` epochs (and after the last) with the history
    entry plus 'epochs' and 'model'; return True from it to stop early.
    """
    if batch_size is not None and (isinstance(batch_size, bool)
                                   or not isinstance(batch_size, numbers.Integral) or batch_size < 1):
        raise ValueError(f'fit: batch_size must be a positive int, or None for the full batch; '
                         f'got {batch_size!r}')
    params, X, y, loss_fn = _prepare(model, X, y, loss)
    optimizer = optimizer or Adam(params, lr=0.01)
    rng = np.random.default_rng(seed)
    n = len(X)
    history = []
    for epoch in range(1, epochs + 1):
        order = np.arange(n) if batch_size is None else rng.permutation(n)
        size = n if batch_size is None else batch_size
        total = 0.0
        for start in range(0, n, size):
            idx = order[start:start + size]
            xb = Tensor(X if batch_size is None else X[idx])
            yb = y if batch_size is None else y[idx]
            L = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            L.backward()
            optimizer.step()
            total += L.item() * len(idx)
        with no_grad_ctx():
            acc = accuracy(model(Tensor(X)), y)
        entry = {'epoch': epoch, 'loss': total / n, 'accuracy': acc}
        history.append(entry)
        if callback is not None and (epoch % every == 0 or epoch == epochs):
            if callback(dict(entry, epochs=epochs, model=model)):
                break
    return history
