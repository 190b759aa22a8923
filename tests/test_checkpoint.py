"""Issue 17: checkpoint(f, *inputs) gives the plain gradients while keeping only inputs and output."""
import math

import numpy as np
import pytest

from autodiff_lite import (Tensor, Value, check_local_gradients, checkpoint, draw_graph, grad, hessian,
                           no_grad)
from autodiff_lite.checkpoint import live_nodes, saved_bytes
from autodiff_lite.nn import mlp


def segment(w, steps):
    def f(v):
        for _ in range(steps):
            v = (v * w).sin() + 0.1
        return v
    return f


def chain(x, w, k, steps, use_checkpoint):
    y = x
    for _ in range(k):
        y = checkpoint(segment(w, steps), y) if use_checkpoint else segment(w, steps)(y)
    return y


def test_value_gradients_equal_the_plain_ones_including_closed_over_parameters():
    grads = {}
    for use in (False, True):
        x, w = Value(0.5), Value(0.9)
        y = chain(x, w, 6, 8, use)
        y.backward()
        y.backward()                                    # leaves accumulate, as without checkpoints
        grads[use] = (y.data, x.grad, w.grad)
    for a, b in zip(grads[False], grads[True]):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-15)
    assert grads[True][1] != 0.0 and grads[True][2] != 0.0


def test_the_forward_pass_keeps_only_inputs_outputs_and_parameters():
    x, w = Value(0.5), Value(0.9)
    plain = chain(x, w, 6, 8, False)
    kept = chain(x, w, 6, 8, True)
    assert live_nodes(plain) == 2 + 6 * 8 * 3                 # x, w, then 3 nodes per step
    assert live_nodes(kept) == 2 + 6                          # x, w and one node per segment
    assert kept._op == 'checkpoint' and kept._prev[2] is w    # (recipe, input, parameter)


def test_nested_checkpoints_and_second_derivatives():
    f = lambda a, b: (a * b).sin() * a + b ** 3            # noqa: E731
    inner = lambda a, b: checkpoint(lambda s, t: checkpoint(f, s, t) * 1.0, a, b)   # noqa: E731
    np.testing.assert_allclose(hessian(inner)(0.3, 0.8), hessian(f)(0.3, 0.8), rtol=1e-12)
    assert grad(grad(lambda a: checkpoint(lambda t: t ** 4, a)))(2.0) == pytest.approx(48.0)


def test_checkpoint_composes_with_no_grad_and_plain_numbers():
    x = Value(2.0)
    with no_grad():
        y = checkpoint(lambda v: v * v, x)
    assert y.data == 4.0 and not y.requires_grad and y._prev == ()
    z = checkpoint(lambda v, n: v ** n, x, 3)             # a number input stays a number
    z.backward()
    assert z.data == 8.0 and x.grad == 12.0


def test_a_checkpointed_graph_draws_and_checks():
    x = Value(0.4, label='x')
    y = checkpoint(lambda v: (v * 3.0).tanh(), x)
    y.backward()
    assert 'checkpoint' in draw_graph(y).source
    assert all(c.ok for c in check_local_gradients(y))


def test_bad_use_gets_a_clear_error():
    with pytest.raises(ValueError, match='needs the inputs'):
        checkpoint(lambda: Value(1.0))
    with pytest.raises(TypeError, match='return one Value.*sum them'):
        checkpoint(lambda v: [v, v], Value(1.0))
    with pytest.raises(TypeError, match='function first'):
        checkpoint(Value(1.0), lambda v: v)


def test_tensor_mlp_gradients_equal_with_a_checkpoint_per_layer_and_per_segment():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((32, 8)), rng.standard_normal((32, 1))
    net = mlp([8] + [16] * 15 + [1], activation='tanh', seed=1)
    layers = net.layers
    blocks = {'plain': [layers], 'per layer': [layers[i:i + 2] for i in range(0, len(layers), 2)],
              'segments': [layers[i:i + 8] for i in range(0, len(layers), 8)]}

    def run(group):
        def f(h):
            for layer in group:
                h = layer(h)
            return h
        return f

    results = {}
    for name, groups in blocks.items():
        net.zero_grad()
        h = Tensor(X)
        for group in groups:
            h = run(group)(h) if name == 'plain' else checkpoint(run(group), h)
        loss = ((h - Y) * (h - Y)).mean()
        loss.backward()
        results[name] = (loss.item(), [p.grad.copy() for p in net.parameters()], saved_bytes(loss))
    for name in ('per layer', 'segments'):
        assert results[name][0] == pytest.approx(results['plain'][0], rel=1e-12)
        for a, b in zip(results[name][1], results['plain'][1]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert results['segments'][2] < results['per layer'][2] < results['plain'][2]
