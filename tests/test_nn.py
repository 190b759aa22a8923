"""Tensor nn: Linear, Sequential, optimizers (vs hand-derived steps and PyTorch), fit."""
import math

import numpy as np
import pytest

from autodiff_lite import Value
from autodiff_lite.data import make_circles, make_line, make_moons
from autodiff_lite.nn import (MLP, SGD, Adam, Linear, ReLU, Sequential, Tanh, accuracy,
                              cross_entropy, fit, make_step, mlp, mse)
from autodiff_lite.tensor import Tensor


# --- modules -------------------------------------------------------------------------------
def test_linear_computes_x_w_plus_b_with_seeded_init():
    lin = Linear(3, 2, seed=5)
    assert lin.w.shape == (3, 2) and lin.b.shape == (2,)
    assert np.all(np.abs(lin.w.data) <= 1 / math.sqrt(3)) and np.all(lin.b.data == 0)
    np.testing.assert_array_equal(Linear(3, 2, seed=5).w.data, lin.w.data)
    assert not np.array_equal(Linear(3, 2, seed=6).w.data, lin.w.data)
    x = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]])
    lin.b.data[:] = [0.5, -0.5]
    out = lin(x)
    np.testing.assert_allclose(out.data, x @ lin.w.data + [0.5, -0.5])
    out.sum().backward()
    np.testing.assert_allclose(lin.w.grad, np.repeat(x.sum(0)[:, None], 2, axis=1))
    np.testing.assert_allclose(lin.b.grad, [2.0, 2.0])


def test_linear_without_bias_and_bad_input():
    lin = Linear(2, 3, bias=False)
    assert lin.parameters() == [lin.w] and lin(np.ones((4, 2))).shape == (4, 3)
    with pytest.raises(ValueError, match=r'Linear\(2, 3\) takes inputs of shape \(batch, 2\), got \(4, 5\)'):
        lin(np.ones((4, 5)))


def test_sequential_and_mlp_parameters_and_zero_grad():
    net = mlp([2, 4, 3, 1], activation='tanh', seed=1)
    assert [type(layer).__name__ for layer in net.layers] == ['Linear', 'Tanh', 'Linear', 'Tanh', 'Linear']
    ps = net.parameters()
    assert [p.shape for p in ps] == [(2, 4), (4,), (4, 3), (3,), (3, 1), (1,)]
    net(np.ones((5, 2))).sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in ps)
    net.zero_grad()
    assert all(p.grad is None for p in ps)
    manual = Sequential(Linear(2, 4, seed=1), Tanh(), Linear(4, 3, seed=2), Tanh(), Linear(3, 1, seed=3))
    np.testing.assert_allclose(manual(np.ones((5, 2))).data, net(np.ones((5, 2))).data)
    assert 'Linear(2, 4)' in repr(net) and len(net) == 5 and isinstance(net[1], Tanh)
    with pytest.raises(ValueError, match='activation must be one of'):
        mlp([2, 1], activation='gelu')


def test_losses_are_reexported_and_compose_with_modules():
    net = Sequential(Linear(2, 3, seed=0), ReLU(), Linear(3, 2, seed=1))
    X = np.array([[0.5, -1.0], [1.0, 2.0]])
    assert cross_entropy(net(X), [0, 1]).item() > 0
    assert mse(net(X), np.zeros((2, 2))).item() == pytest.approx(np.mean(net(X).data ** 2))


# --- optimizers ------------------------------------------------------------------------------
def test_sgd_plain_and_momentum_by_hand():
    p = Tensor([1.0, -2.0], requires_grad=True)
    opt = SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.array([1.0, 1.0])
    opt.step()                               # v = g, p -= 0.1 v
    np.testing.assert_allclose(p.data, [0.9, -2.1])
    p.grad = np.array([1.0, 0.0])
    opt.step()                               # v = 0.9 v + g = [1.9, 0.9]
    np.testing.assert_allclose(p.data, [0.9 - 0.19, -2.1 - 0.09])
    opt.zero_grad()
    assert p.grad is None
    opt.step()                               # no gradient: nothing moves
    np.testing.assert_allclose(p.data, [0.71, -2.19])


def test_adam_first_steps_by_hand():
    p = Tensor([1.0], requires_grad=True)
    opt = Adam([p], lr=0.1)
    p.grad = np.array([2.0])
    opt.step()               # m_hat = g, v_hat = g^2: the first step is lr * sign(g)
    assert p.data[0] == pytest.approx(1.0 - 0.1, rel=1e-6)
    p.grad = np.array([-1.0])
    opt.step()
    m = 0.9 * 0.2 + 0.1 * -1.0
    v = 0.999 * 0.004 + 0.001 * 1.0
    expected = 0.9 - 0.1 * (m / (1 - 0.9 ** 2)) / (math.sqrt(v / (1 - 0.999 ** 2)) + 1e-8)
    assert p.data[0] == pytest.approx(expected, rel=1e-9)


def test_optimizers_also_drive_scalar_values():
    model = MLP(2, [4, 1], seed=0, activation='tanh')
    X, y = make_moons(20, noise=0.1, seed=1)
    for Opt, kw in ((SGD, dict(lr=0.005, momentum=0.5)), (Adam, dict(lr=0.02))):
        opt = Opt(model.parameters(), **kw)
        losses = []
        for _ in range(15):
            loss = Value.sum((model(list(map(float, x))) - (2.0 * t - 1.0)) ** 2 for x, t in zip(X, y))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.data)
        assert losses[-1] < losses[0]


def test_optimizer_errors():
    with pytest.raises(ValueError, match='got no parameters'):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match='requires_grad=True'):
        SGD([Tensor([1.0])], lr=0.1)
    with pytest.raises(ValueError, match='lr > 0'):
        Adam([Tensor([1.0], requires_grad=True)], lr=0)


def test_training_step_agrees_with_pytorch():
    torch = pytest.importorskip('torch')
    net = mlp([3, 5, 4], seed=2)
    X = np.random.default_rng(0).standard_normal((6, 3))
    y = np.array([0, 1, 3, 2, 1, 0])
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in net.parameters()]

    def torch_net(x):
        w1, b1, w2, b2 = tparams
        return torch.relu(x @ w1 + b1) @ w2 + b2          # our w is PyTorch's weight.T

    for Opt, TOpt, kw in ((SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
                          (Adam, torch.optim.Adam, dict(lr=0.01))):
        ours, theirs = Opt(net.parameters(), **kw), TOpt(tparams, **kw)
        for _ in range(3):
            loss = cross_entropy(net(X), y)
            ours.zero_grad()
            loss.backward()
            ours.step()
            tloss = torch.nn.functional.cross_entropy(torch_net(torch.tensor(X)), torch.tensor(y))
            theirs.zero_grad()
            tloss.backward()
            theirs.step()
            assert loss.item() == pytest.approx(tloss.item(), rel=1e-9)
        for p, t in zip(net.parameters(), tparams):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-8, atol=1e-10)


# --- fit ------------------------------------------------------------------------------------
def test_fit_learns_moons_deterministically():
    X, y = make_moons(200, noise=0.1, seed=0)
    runs = []
    for _ in range(2):
        net = mlp([2, 64, 64, 1], seed=0)
        runs.append(fit(net, X, y, loss="mse", epochs=100))
    assert runs[0][-1]['accuracy'] >= 0.97
    assert [h['loss'] for h in runs[0]] == [h['loss'] for h in runs[1]]
    assert runs[0][-1]['loss'] < runs[0][0]['loss'] / 10
    assert accuracy(net(X), y) == runs[1][-1]['accuracy']


def test_fit_cross_entropy_minibatches_and_callback():
    X, y = make_circles(120, noise=0.05, seed=0)
    seen = []

    def callback(info):
        seen.append((info['epoch'], info['loss'], info['accuracy']))
        assert info['epochs'] == 60 and info['model'] is net
        return info['accuracy'] == 1.0          # stop early once every point is right

    net = mlp([2, 32, 2], seed=3)
    history = fit(net, X, y, optimizer=SGD(net.parameters(), lr=0.1, momentum=0.9),
                  epochs=60, batch_size=32, callback=callback, every=5)
    assert [s[0] for s in seen] == [h['epoch'] for h in history if h['epoch'] % 5 == 0 or h is history[-1]]
    assert history[-1]['accuracy'] >= 0.95
    assert len(history) == 60 or history[-1]['accuracy'] == 1.0


def test_fit_regression_finds_the_line():
    X, y = make_line(100, slope=2.0, intercept=1.0, noise=0.01, seed=0)
    lin = Linear(1, 1, seed=0)
    history = fit(lin, X, y, loss='mse', optimizer=SGD(lin.parameters(), lr=0.5), epochs=100)
    assert lin.w.data[0, 0] == pytest.approx(2.0, abs=0.02)
    assert lin.b.data[0] == pytest.approx(1.0, abs=0.02)
    assert history[-1]['accuracy'] is None       # regression targets: no accuracy


def test_fit_errors():
    X, y = make_moons(10, seed=0)
    with pytest.raises(ValueError, match='X has 10 rows but y has 9'):
        fit(mlp([2, 2]), X, y[:9])
    with pytest.raises(ValueError, match="loss must be 'cross_entropy', 'mse' or a function"):
        fit(mlp([2, 2]), X, y, loss='hinge')
    with pytest.raises(TypeError, match='fit trains tensor models'):
        fit(MLP(2, [2]), X, y)


def test_make_step_is_one_full_batch_sgd_step():
    X, y = make_moons(50, noise=0.1, seed=2)
    net, twin = mlp([2, 8, 2], seed=4), mlp([2, 8, 2], seed=4)
    step = make_step(net, X, y)
    first = step(0.5)
    opt = SGD(twin.parameters(), lr=0.5)                 # the same step written out
    loss = cross_entropy(twin(X), y)
    loss.backward()
    opt.step()
    assert first == pytest.approx(loss.item())
    for p, q in zip(net.parameters(), twin.parameters()):
        np.testing.assert_allclose(p.data, q.data)
    losses = [step(0.5) for _ in range(30)]
    assert losses[-1] < first


def test_adam_counts_steps_per_parameter_like_pytorch():
    # b gets its first gradient at the second step: its bias correction must be that
    # of a first step, m_hat = g and v_hat = g^2, so it moves by lr exactly (torch: 0.9)
    a, b = Tensor([1.0], requires_grad=True), Tensor([1.0], requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    for s in range(2):
        opt.zero_grad()
        ((a * a).sum() if s == 0 else (a * a + b * b).sum()).backward()
        opt.step()
    assert b.data[0] == pytest.approx(0.9, abs=1e-8)          # a global count gave 0.92559
    assert opt.steps == [2, 1] and opt.t == 2


def test_adam_needs_two_betas():
    with pytest.raises(ValueError, match='two betas'):
        Adam([Tensor([1.0], requires_grad=True)], betas=(0.9,))


def test_fit_rejects_a_batch_size_that_is_not_positive():
    X, y = np.ones((4, 2)), [0, 1, 0, 1]
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match='batch_size must be a positive int'):
            fit(mlp([2, 3, 2]), X, y, epochs=1, batch_size=bad)
    assert len(fit(mlp([2, 3, 2]), X, y, epochs=1, batch_size=np.int64(2))) == 1


def test_fit_mse_names_the_shapes_when_y_has_too_few_columns():
    with pytest.raises(ValueError, match=r"model gives \(4, 2\) outputs but y has shape \(4,\)"):
        fit(mlp([2, 3, 2]), np.ones((4, 2)), np.ones(4), loss='mse', epochs=1)


def test_fit_mse_with_several_outputs_reports_no_accuracy():
    history = fit(mlp([2, 4, 3]), np.ones((10, 2)), np.ones((10, 3)), loss='mse', epochs=1)
    assert history[0]['accuracy'] is None and history[0]['loss'] > 0
