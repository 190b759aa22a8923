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


# --- points where a derivative is special, and mistakes that used to lose it silently --------
def test_pow_derivatives_at_base_zero_match_the_limits():
    # d(x^0)/dx = 0 even at x = 0; d(0^y)/dy = 0 for y > 0 (0^y = 0 there)
    assert grad(lambda x: x ** 0)(0.0) == 0.0
    assert grad(lambda x: 3 * x ** 2 + x ** 0)(0.0) == 0.0
    assert grad(lambda x, y: x ** y, argnums=1)(0.0, 2.0) == 0.0
    assert grad(lambda x, y: x ** y, argnums=(0, 1))(0.0, 1.0) == (1.0, 0.0)
    assert jvp(lambda x: x ** 0, [0.0], [1.0]) == (1.0, 0.0)
    # and the usual case is unchanged: d(x^y)/dy = x^y ln x
    assert grad(lambda x, y: x ** y, argnums=1)(2.0, 3.0) == pytest.approx(8 * math.log(2))


def test_infinite_or_undefined_derivatives_raise_a_clear_error():
    with pytest.raises(ValueError, match=r'derivative of sqrt\(x0 = 0\).*positive one for its gradient'):
        grad(lambda x: x.sqrt())(0.0)
    with pytest.raises(ValueError, match=r'derivative of pow\(x0 = 0, 0.5\)'):
        grad(lambda x: x ** 0.5)(0.0)
    a, b = Value(-2.0, label='a'), Value(2.0, label='b')
    y = a ** b                                   # forward is fine: (-2)^2 = 4
    assert y.data == 4.0
    with pytest.raises(ValueError, match=r'pow\(a = -2, b = 2\).*as a plain number'):
        y.backward()                             # d/db (-2)^b = (-2)^b ln(-2): none
    with pytest.raises(ValueError, match=r'derivative of sqrt\(0.0\)'):
        jvp(lambda x: x.sqrt(), [0.0], [1.0])


def test_forward_mode_skips_the_partial_of_an_input_without_tangent():
    # y's tangent is 0, so sqrt'(0) is never needed: df = dx = 1
    assert jvp(lambda x, y: x + y.sqrt(), [1.0, 0.0], [1.0, 0.0]) == (1.0, 1.0)


def test_float_of_a_traced_input_is_an_error_not_a_zero_gradient():
    with pytest.raises(TypeError, match=r'math.sin\(x\).*x.sin\(\)'):
        grad(lambda x: math.sin(x))(1.0)
    with pytest.raises(TypeError, match='derivative would be lost'):
        jvp(lambda x: math.exp(x), [1.0], [1.0])
    with pytest.raises(TypeError, match='derivative would be lost'):
        jacobian(lambda x, y: [x * y, math.sin(y)])(1.0, 2.0)
    with pytest.raises(TypeError, match='derivative would be lost'):
        hessian(lambda x: float(x) ** 2)(1.0)
    # comparisons between nodes still work inside traced code, and outside tracing float() is fine
    assert grad(lambda x, y: x * y if x > y else x + y, argnums=(0, 1))(3.0, 2.0) == (2.0, 3.0)
    assert float(Value(2.5)) == 2.5 and float(Dual(2.5, 1.0)) == 2.5
    # a truly constant function still has gradient 0
    assert grad(lambda x: 3.0)(1.0) == 0.0
    assert np.array_equal(hessian(lambda x, y: 3.0)(1.0, 2.0), np.zeros((2, 2)))


def test_transforms_build_their_graph_even_inside_no_grad():
    from autodiff_lite import no_grad
    with no_grad():
        assert grad(lambda x: x * x)(3.0) == 6.0
        assert np.array_equal(hessian(lambda x: x ** 3)(3.0), [[18.0]])
        assert np.array_equal(jacobian(lambda x: x * x)(3.0), [[6.0]])
        assert vjp(lambda x: x * x, 3.0)[1](1.0) == (6.0,)


def test_grad_of_grad_nests():
    assert grad(grad(lambda x: x ** 3))(2.0) == 12.0                 # 6 x
    assert grad(grad(grad(lambda x: x ** 3)))(2.0) == 6.0


def test_hessian_and_jacobian_take_one_packed_vector_like_each_other():
    H = hessian(lambda v: v[0] * v[1] + v[0] ** 2)([1.0, 2.0])
    assert np.array_equal(H, [[2.0, 1.0], [1.0, 0.0]])
    assert np.array_equal(hessian(lambda v: v[0] * v[1])(np.array([1.0, 2.0])), [[0.0, 1.0], [1.0, 0.0]])
    # a 0-d array is one number, not a packed vector
    assert np.array_equal(jacobian(lambda x: x * x)(np.array(3.0)), [[6.0]])


def test_float_of_a_constant_or_of_a_value_f_does_not_trace_is_fine():
    W = Value(3.0)                                # a Value from outside: grad does not trace it
    assert grad(lambda x: x * float(W))(2.0) == 3.0
    assert grad(lambda x: x * float(x.detach()))(2.0) == 2.0
    assert grad(lambda x: x * float(Value(2.0, requires_grad=False)))(1.0) == 2.0
    assert grad(lambda x: x * x if math.isfinite(x.data) else x)(2.0) == 4.0     # the message's advice
    with pytest.raises(TypeError, match=r'use x.data'):
        grad(lambda x: x * x if math.isfinite(x) else x)(2.0)
    with pytest.raises(TypeError, match='derivative would be lost'):
        grad(lambda x: math.sin(x * 2))(1.0)      # a node that depends on x, not x itself


def test_second_derivatives_of_pow_at_base_zero_and_exponent_zero():
    # d2/dx2 x^y = y(y-1)x^(y-2), d2/dxdy = x^(y-1)(1 + y ln x), d2/dy2 = x^y (ln x)^2
    assert np.allclose(hessian(lambda x, y: x ** y)(2.0, 3.0),
                       [[12.0, 4 * (1 + 3 * math.log(2))], [4 * (1 + 3 * math.log(2)), 8 * math.log(2) ** 2]])
    assert np.allclose(hessian(lambda x, y: x ** y)(2.0, 0.0), [[0.0, 0.5], [0.5, math.log(2) ** 2]])
    assert np.allclose(hessian(lambda x, y: x ** y)(0.0, 2.0), [[2.0, 0.0], [0.0, 0.0]])   # the limits
    with pytest.raises(ValueError, match=r'derivative of sqrt\(x0 = 0\)'):
        hessian(lambda x: x.sqrt())(0.0)          # named as sqrt, not as the div inside its partial


def test_an_overflowing_derivative_is_inf_as_pytorch_gives():
    x = Value(1e-200)
    (x ** -1.0).backward()                    # d/dx x^-1 = -x^-2 = -1e400: -inf in float64
    assert x.grad == -math.inf


def test_gradcheck_of_a_constant_and_inside_no_grad():
    from autodiff_lite import no_grad
    assert gradcheck(lambda x: Value(2.0, requires_grad=False) * 3.0, 1.0).ok
    with no_grad():
        report = gradcheck(lambda x: x * x, 1.0)
    assert report.ok and report.analytic == [2.0]
