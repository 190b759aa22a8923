"""Issue 16: the transforms compose, nested perturbations stay apart, and `gradients`/`hvp`."""
import math
import random

import numpy as np
import pytest

from autodiff_lite import (Dual, Tensor, Value, gradients, grad, hessian, hvp, jacobian, jvp,
                           value_and_grad, vjp)
from autodiff_lite.gradcheck import central_difference


def d(f, x):
    """Forward-mode derivative of f at x."""
    return jvp(f, (x,), (1.0,))[1]


# --- the three nested examples: 1, 1 and 2 in every nesting ----------------------------------------
NESTINGS = {
    'reverse': (grad, lambda f: (lambda x: grad(f)(x))),
    'forward': (lambda f: (lambda x: d(f, x)), lambda f: (lambda x: d(f, x))),
    'grad over jvp': (grad, lambda f: (lambda x: d(f, x))),
    'jvp over grad': (lambda f: (lambda x: d(f, x)), lambda f: (lambda x: grad(f)(x))),
}


@pytest.mark.parametrize('nesting', NESTINGS)
def test_the_three_nested_examples(nesting):
    outer, inner = NESTINGS[nesting]
    assert outer(lambda x: x * inner(lambda y: x + y)(2.0))(1.0) == 1.0    # x · 1
    assert outer(lambda x: inner(lambda y: x * y)(2.0))(1.0) == 1.0        # d/dx x
    assert outer(lambda x: x * inner(lambda y: x * y)(2.0))(1.0) == 2.0    # d/dx x²


# --- random expressions that reuse nodes: every composition agrees ----------------------------
def program(seed, n_inputs=2, steps=7):
    rng = random.Random(seed)
    ops = ['mul', 'add', 'sub', 'tanh', 'sin', 'exp', 'square', 'div']
    return [(rng.choice(ops), rng.randrange(n_inputs + k), rng.randrange(n_inputs + k)) for k in range(steps)]


def run(prog, xs):
    """The program on Values, Duals or torch tensors alike (operators and methods only)."""
    def m(a, name):                                   # a plain float (a constant) has no methods
        return getattr(a, name)() if hasattr(a, name) else getattr(math, name)(a)
    nodes = list(xs)
    for op, i, j in prog:
        a, b = nodes[i], nodes[j]
        nodes.append({'mul': lambda: a * b, 'add': lambda: a + b, 'sub': lambda: a - b,
                      'tanh': lambda: m(a, 'tanh'), 'sin': lambda: m(a, 'sin'), 'exp': lambda: m(a * 0.3, 'exp'),
                      'square': lambda: a * a, 'div': lambda: a / (1.0 + b * b)}[op]())
    return nodes[-1] + nodes[-2] * nodes[0]           # the inputs reused once more


SEEDS = range(8)
X0 = (0.4, -0.9)


@pytest.mark.parametrize('seed', SEEDS)
def test_second_derivatives_agree_in_every_composition(seed):
    prog = program(seed)
    f = lambda x, y: run(prog, [x, y])                     # noqa: E731
    H = hessian(f)(*X0)
    for i in range(2):
        gi = lambda x, y: grad(f, i)(x, y)                # noqa: E731
        for j in range(2):
            want = central_difference(gi, X0, j)
            assert H[i][j] == pytest.approx(want, rel=1e-5, abs=1e-6)
            assert grad(gi, j)(*X0) == pytest.approx(H[i][j], rel=1e-10, abs=1e-12)   # grad(grad(f))
            tangent = [float(k == j) for k in range(2)]
            assert jvp(gi, X0, tangent)[1] == pytest.approx(H[i][j], rel=1e-10, abs=1e-12)  # jvp of grad
            dj = lambda x, y: jvp(f, (x, y), tangent)[1]  # noqa: E731
            assert grad(dj, i)(*X0) == pytest.approx(H[i][j], rel=1e-10, abs=1e-12)   # grad of jvp
    g = lambda x, y: grad(f, (0, 1))(x, y)                # noqa: E731
    np.testing.assert_allclose(jacobian(g)(*X0), H, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(jacobian(g, mode='forward')(*X0), H, rtol=1e-10, atol=1e-12)
    v = np.array([0.7, -1.3])
    for mode in ('fwdrev', 'revrev'):
        np.testing.assert_allclose(hvp(lambda u: f(u[0], u[1]), np.array(X0), v, mode=mode), H @ v,
                                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('seed', SEEDS)
def test_against_pytorch(seed):
    torch = pytest.importorskip('torch')
    from torch.autograd.functional import hessian as t_hessian, hvp as t_hvp
    prog = program(seed)
    x = torch.tensor(X0, dtype=torch.float64)
    v = torch.tensor([0.7, -1.3], dtype=torch.float64)
    f = lambda u: run(prog, [u[0], u[1]])                  # noqa: E731
    H = t_hessian(f, x).numpy()
    np.testing.assert_allclose(hessian(f)(np.array(X0)), H, rtol=1e-10, atol=1e-12)
    for mode in ('fwdrev', 'revrev'):
        np.testing.assert_allclose(hvp(f, np.array(X0), v.numpy(), mode=mode), t_hvp(f, x, v)[1].numpy(),
                                   rtol=1e-10, atol=1e-12)
    gg = grad(grad(lambda a: run(prog, [a, a * 0.5 + 1.0])))(0.3)
    tf = torch.func
    tg = tf.grad(tf.grad(lambda a: run(prog, [a, a * 0.5 + 1.0])))(torch.tensor(0.3, dtype=torch.float64))
    assert gg == pytest.approx(tg.item(), rel=1e-10, abs=1e-12)


def test_hvp_packs_like_x_and_checks_its_input():
    f = lambda X: (X[0] * X[1]).sum() + (X * X * X).sum()  # noqa: E731
    X = np.array([[1.0, 2.0], [3.0, -1.0]])
    V = np.array([[0.5, 0.0], [1.0, 2.0]])
    want = hessian(f)(X).reshape(4, 4) @ V.ravel()
    for mode in ('fwdrev', 'revrev'):
        out = hvp(f, X, V, mode=mode)
        assert out.shape == (2, 2)
        np.testing.assert_allclose(out.ravel(), want)
    assert hvp(lambda x: x ** 3, 2.0, 1.0) == 12.0
    with pytest.raises(ValueError, match="'fwdrev' or 'revrev'"):
        hvp(f, X, V, mode='forward')
    with pytest.raises(ValueError, match='v has 3 entries but x has 4'):
        hvp(f, X, [1.0, 2.0, 3.0])


# --- no .grad changes during a transform --------------------------------------------------------
def test_no_leafs_grad_changes_during_a_transform():
    w = Value(1.5, label='w')                          # a parameter f closes over
    w.grad = 7.0
    f = lambda x: (w * x).tanh() * x                    # noqa: E731
    grad(f)(0.3)
    value_and_grad(f)(0.3)
    hessian(f)(0.3)
    hvp(f, 0.3, 1.0)
    hvp(f, 0.3, 1.0, mode='revrev')
    jvp(f, (0.3,), (1.0,))
    vjp(f, 0.3)[1](1.0)
    jacobian(f)(0.3)
    grad(grad(f))(0.3)
    assert w.grad == 7.0
    x = Value(0.3)
    y = f(x)
    u = y * 2.0
    x.grad, y.grad = 5.0, 6.0
    assert gradients(u, [x, y]) == pytest.approx((2 * grad(f)(0.3), 2.0))
    assert (x.grad, y.grad, w.grad) == (5.0, 6.0, 7.0)


def test_gradients_of_chosen_inputs():
    x, w = Value(2.0), Value(-3.0)
    h = x * w
    y = h.tanh() + h                                    # h an interior node
    gx, gh = gradients(y, [x, h])
    t = math.tanh(-6.0)
    assert gh == pytest.approx(1 - t * t + 1) and gx == pytest.approx(gh * -3.0)
    assert gradients(y, [Value(1.0)]) == (0.0,)         # not an input of y
    (g2,) = gradients(y, [x], grad_out=2.0)
    assert g2 == pytest.approx(2 * gx)
    (gx_node,) = gradients(x * x * x, [x], create_graph=True)
    assert gx_node.data == 12.0 and gradients(gx_node, [x]) == (12.0,)   # 3x², then 6x
    # Tensors
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([[0.5], [-1.0]], requires_grad=True)
    s = (a * b).sum()
    ga, gb = gradients(s, [a, b])
    np.testing.assert_allclose(ga, [-0.5, -0.5])
    np.testing.assert_allclose(gb, [[3.0], [3.0]])
    assert a.grad is None and b.grad is None
    with pytest.raises(NotImplementedError, match='no second-order backward'):
        gradients(s, [a], create_graph=True)
    with pytest.raises(TypeError, match='Values \\(or Tensors, not mixed\\)'):
        gradients(s, [x])


def test_a_transform_that_cannot_apply_says_why():
    with pytest.raises(TypeError, match='grad needs f to return one scalar, got list.*jacobian'):
        grad(lambda x: [x, x * 2])(1.0)
    with pytest.raises(TypeError, match='one scalar, got Tensor of shape \\(2,\\).*sum'):
        grad(lambda x: Tensor([1.0, 2.0]))(1.0)


def test_grad_of_a_value_answers_with_a_connected_value():
    x = Value(2.0)
    g = grad(lambda t: t ** 3)(x)                       # 3 x², joined to x
    assert isinstance(g, Value) and g.data == 12.0
    g.backward()
    assert x.grad == 12.0                               # 6 x
