"""The functional API and gradient checking."""
import math

import numpy as np
import pytest

from autodiff_lite import Dual, Value, grad, gradcheck, hessian, jacobian, jvp, value_and_grad, vjp
from autodiff_lite.gradcheck import check_local_gradients, numerical_grad
from autodiff_lite.ops import OPS


def f2(x, y):
    return x * y + x / y


def g3(x, y):
    return [x * y, x.sin() + y, (x * x).exp()]


def test_grad_and_value_and_grad():
    assert grad(f2)(5.0, 2.0) == pytest.approx(2.5)
    assert grad(f2, argnums=1)(5.0, 2.0) == pytest.approx(3.75)
    assert grad(f2, argnums=(0, 1))(5.0, 2.0) == pytest.approx((2.5, 3.75))
    assert value_and_grad(f2)(5.0, 2.0) == (12.5, pytest.approx(2.5))


def test_grad_rejects_bad_argnums_and_vector_outputs():
    with pytest.raises(ValueError, match='argnums=3 does not fit a call with 2'):
        grad(f2, argnums=3)(1.0, 2.0)
    with pytest.raises(TypeError, match='one scalar.*jacobian or vjp'):
        grad(g3)(1.0, 2.0)


def test_jvp_seed_two_forward_passes():
    assert jvp(f2, (5.0, 2.0), (1.0, 0.0)) == (12.5, pytest.approx(2.5))
    assert jvp(f2, (5.0, 2.0), (0.0, 1.0)) == (12.5, pytest.approx(3.75))
    with pytest.raises(ValueError, match='one tangent per primal'):
        jvp(f2, (5.0, 2.0), (1.0,))


def test_vjp_reusable_and_matching_rows_of_the_jacobian():
    out, vjp_fn = vjp(g3, 1.0, 2.0)
    assert out == pytest.approx([2.0, math.sin(1) + 2, math.e])
    assert vjp_fn([1.0, 0.0, 0.0]) == pytest.approx((2.0, 1.0))
    assert vjp_fn([0.0, 1.0, 0.0]) == pytest.approx((math.cos(1.0), 1.0))
    assert vjp_fn([1.0, 1.0, 1.0]) == pytest.approx((2 + math.cos(1) + 2 * math.e, 2.0))
    with pytest.raises(ValueError, match='one cotangent per output'):
        vjp_fn([1.0])


@pytest.mark.parametrize('mode', ['forward', 'reverse'])
def test_jacobian_both_modes_match_finite_differences(mode):
    J = jacobian(g3, mode=mode)(1.0, 2.0)
    assert J.shape == (3, 2)
    for i in range(3):
        fi = lambda x, y, i=i: [x * y, math.sin(x) + y, math.exp(x * x)][i]
        assert J[i] == pytest.approx(numerical_grad(fi, 1.0, 2.0), rel=1e-6)


def test_jacobian_modes_agree_and_accept_a_vector():
    f = lambda v: [v[0] * v[1] * v[2], v[0].tanh() - v[2], v[1] ** 2]
    x = np.array([0.3, -1.2, 2.0])
    assert np.allclose(jacobian(f, 'forward')(x), jacobian(f, 'reverse')(x), rtol=1e-12)


def test_jacobian_unknown_mode():
    with pytest.raises(ValueError, match="'forward' or 'reverse', got 'sideways'"):
        jacobian(g3, mode='sideways')


def test_hessian_of_a_polynomial():
    H = hessian(lambda x, y: x * x * y + y ** 3)(1.0, 2.0)
    assert np.allclose(H, [[4.0, 2.0], [2.0, 12.0]])


def test_nested_duals_give_second_derivatives():
    x = Dual(Dual(0.5, 1.0), Dual(1.0, 0.0))
    y = x.sin() * x
    assert y.tangent.tangent == pytest.approx(-math.sin(0.5) * 0.5 + 2 * math.cos(0.5))


def test_gradcheck_passes_and_reports():
    rep = gradcheck(lambda x, y: (x * y).tanh() + x / y, 0.5, 2.0)
    assert rep.ok and bool(rep)
    assert rep.max_abs_error < 1e-8
    assert 'passed' in repr(rep)


def test_gradcheck_catches_a_wrong_derivative(monkeypatch):
    # the well-known blog's bug: tanh'(z) written as tanh²(z) instead of 1 - tanh²(z)
    monkeypatch.setattr(OPS['tanh'], 'partials', (lambda a, out: out * out,))
    rep = gradcheck(lambda w: 0.5 * ((w * 2.0).tanh() - 1.0) ** 2, 1.0)
    assert not rep.ok
    assert round(rep.analytic[0], 5) == -0.06686
    assert round(rep.numeric[0], 7) == -0.0050830
    assert 'wrong' in repr(rep)


def test_per_node_check_names_the_node_with_the_wrong_derivative(monkeypatch):
    x, w, b = Value(2.0, label='x'), Value(1.0, label='w'), Value(0.0, label='b')
    z = w * x + b
    y_hat = z.tanh()
    y_hat.label = 'y_hat'
    J = 0.5 * (y_hat - 1.0) ** 2
    assert all(r.ok for r in check_local_gradients(J))
    monkeypatch.setattr(OPS['tanh'], 'partials', (lambda a, out: out * out,))
    bad = [r for r in check_local_gradients(J) if not r.ok]
    assert len(bad) == 1 and bad[0].node is y_hat
    assert "'y_hat'" in bad[0].name and 'tanh' in bad[0].name
    assert bad[0].numeric == pytest.approx(1 - math.tanh(2.0) ** 2, rel=1e-6)


def test_check_local_gradients_rejects_non_nodes():
    with pytest.raises(TypeError, match='scalar ops of a Value graph, got float'):
        check_local_gradients(3.0)
    from autodiff_lite import Tensor
    t = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match='got Tensor'):
        check_local_gradients((t * t).sum())
