"""Lesson 09's gradient-flow widget and its maths, driven from plain pytest (no kernel)."""
import math

import numpy as np
import pytest

from autodiff_lite import Tensor
from autodiff_lite import widgets as W

PNG = b'\x89PNG'


def hand_norms(depth, scale, activation, width=8, batch=4, seed=3):
    """The same network in plain numpy, backward written out: the reference."""
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((batch, width))
    acts = {'tanh': (np.tanh, lambda z, a: 1 - a * a),
            'sigmoid': (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a)),
            'relu': (lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(float))}
    f, df = acts[activation]
    cache = []
    for _ in range(depth):
        w = rng.standard_normal((width, width)) * scale / math.sqrt(width)
        z = h @ w
        h = f(z)
        cache.append((w, z, h))
    g = np.ones_like(h)                       # L = sum of the last outputs
    norms = []
    for w, z, a in reversed(cache):
        norms.append(np.linalg.norm(g))
        g = (g * df(z, a)) @ w.T
    return norms[::-1]


@pytest.mark.parametrize('activation', ['tanh', 'sigmoid', 'relu'])
def test_layer_grad_norms_match_a_hand_backward(activation):
    got = W.layer_grad_norms(6, 1.3, activation, width=8, batch=4, seed=3)
    assert np.allclose(got, hand_norms(6, 1.3, activation), rtol=1e-12)
    assert got[-1] == pytest.approx(math.sqrt(4 * 8))      # dL/dh_last is all ones


def test_xavier_and_he_keep_gradients_level_and_bad_scales_do_not():
    spread = lambda n: max(n) / min(n)
    assert spread(W.layer_grad_norms(20, math.sqrt(2), 'relu')) < 3        # He
    assert spread(W.layer_grad_norms(20, 1.0, 'relu')) > 300               # vanishes by 1/sqrt(2) per layer
    relu_half = W.layer_grad_norms(20, 0.5, 'relu')
    assert relu_half[0] < 1e-6 < relu_half[-1]                              # vanishing: input side starved
    tanh_big = W.layer_grad_norms(20, 4.0, 'tanh')
    assert tanh_big[0] > 1e3 * tanh_big[-1]                                 # exploding
    assert spread(W.layer_grad_norms(20, 4.0, 'sigmoid')) > 1e3            # sigmoid: no scale levels it


def test_layer_grad_norms_bad_arguments():
    with pytest.raises(ValueError, match='activation must be one of'):
        W.layer_grad_norms(3, 1.0, 'softsign')
    with pytest.raises(ValueError, match='scale must be positive'):
        W.layer_grad_norms(3, 0.0)
    with pytest.raises(ValueError, match='depth must be a whole number'):
        W.layer_grad_norms(0)


def test_gradient_flow_sliders_recompute_the_norms_and_the_plot():
    box = W.gradient_flow(depth=20, scale=1.0, activation='relu')
    assert len(box.norms) == 20 and bytes(box.plot.value).startswith(PNG)
    assert 'vanishing' in box.readout.value
    first_plot = box.plot.value
    box.scale.value = 1.4                            # near He's sqrt(2): level
    assert box.norms == pytest.approx(W.layer_grad_norms(20, 1.4, 'relu'))
    assert 'level' in box.readout.value and bytes(box.plot.value) != bytes(first_plot)
    box.depth.value = 5
    assert len(box.norms) == 5 and 'layer 5' in box.readout.value
    box.depth.value = 20
    box.activation.value = 'tanh'
    box.scale.value = 4.0
    assert 'exploding' in box.readout.value
    spread = max(box.norms) / min(box.norms)
    assert f'{spread:.3g}' in box.readout.value


def test_tensor_interior_grads_are_what_the_norms_read():
    # layer_grad_norms relies on interior tensors keeping .grad after backward()
    x = Tensor(np.ones((2, 2)))
    h = (x @ Tensor(np.eye(2) * 3.0, requires_grad=True)).tanh()
    h.sum().backward()
    assert np.allclose(h.grad, np.ones((2, 2)))
