"""The micrograd-style scalar MLP and the data sets."""

import numpy as np
import pytest

from autodiff_lite import Value
from autodiff_lite.data import make_circles, make_line, make_moons, make_spirals
from autodiff_lite.nn import MLP, Neuron
from autodiff_lite.gradcheck import central_difference


def test_neuron_computes_relu_of_weighted_sum():
    n = Neuron(3)
    x = [0.5, -1.0, 2.0]
    expected = sum(w.data * xi for w, xi in zip(n.w, x)) + n.b.data
    assert n(x).data == pytest.approx(max(expected, 0.0))
    assert len(n.parameters()) == 4


def test_mlp_parameters_are_ordered_layer_neuron_weights_then_bias():
    m = MLP(2, [3, 1], seed=1)
    ps = m.parameters()
    assert len(ps) == 3 * 3 + 4
    first = m.layers[0].neurons[0]
    assert ps[:3] == first.w + [first.b]
    assert ps[-1] is m.layers[1].neurons[0].b
    assert MLP(2, [3, 1], seed=1).parameters()[0].data == ps[0].data    # seeded


def test_mlp_gradient_matches_finite_differences():
    m = MLP(2, [4, 1], seed=3, activation='tanh')
    x = [0.3, -0.7]
    out = m(x)
    out.backward()
    for p in m.parameters()[:6]:
        old = p.data

        def at(v):
            p.data = v
            return m(x).data
        expected = central_difference(at, [old], 0)
        p.data = old
        assert p.grad == pytest.approx(expected, rel=1e-5, abs=1e-8)


def test_mlp_learns_moons():
    X, y = make_moons(60, noise=0.1, seed=1)
    y = y * 2 - 1
    m = MLP(2, [16, 16, 1], seed=1)
    for k in range(60):
        scores = [m(list(x)) for x in X]
        loss = Value.sum([(1 - float(yi) * s).relu() for yi, s in zip(y, scores)]) * (1 / len(X))
        loss = loss + 1e-4 * Value.sum([p * p for p in m.parameters()])
        m.zero_grad()
        loss.backward()
        for p in m.parameters():
            p.data -= (1.0 - 0.9 * k / 60) * p.grad
    acc = np.mean([(s.data > 0) == (yi > 0) for s, yi in zip(scores, y)])
    assert acc >= 0.95


def test_mlp_bad_arguments():
    with pytest.raises(ValueError, match='takes 2 inputs, got 3'):
        MLP(2, [3, 1])([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="activation must be 'relu' or 'tanh'"):
        MLP(2, [3], activation='gelu')


def test_sum_and_dot_nodes():
    a, b, c = Value(1.0), Value(2.0), Value(-3.0)
    s = Value.sum([a, b, c, a])
    s.backward()
    assert s.data == 1.0 and a.grad == 2.0 and c.grad == 1.0
    w, x = [Value(2.0), Value(-1.0)], [Value(3.0), 4.0]
    d = Value.dot(w, x)
    d.backward()
    assert d.data == 2.0 and w[0].grad == 3.0 and w[1].grad == 4.0 and x[0].grad == 2.0
    with pytest.raises(ValueError, match='same length'):
        Value.dot([a], [b, c])


@pytest.mark.parametrize('make', [make_moons, make_circles, make_spirals, make_line])
def test_data_sets_are_seeded_and_shaped(make):
    X1, y1 = make(40, seed=5)
    X2, y2 = make(40, seed=5)
    X3, _ = make(40, seed=6)
    assert X1.shape[0] == y1.shape[0] == 40 and X1.ndim == 2
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


def test_moons_are_balanced_binary():
    X, y = make_moons(101, noise=0.0, seed=0)
    assert set(np.unique(y)) == {0, 1} and abs(int(y.sum()) - 50) <= 1
    assert X.shape == (101, 2)
    with pytest.raises(ValueError, match='whole number of points'):
        make_moons(1)
