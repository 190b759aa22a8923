"""Issue 21: truth, equality, shapes and the special points where a number or a clear error is due."""
import math

import numpy as np
import pytest

from autodiff_lite import (Dual, Tensor, Value, check_local_gradients, grad, hessian, jacobian, jvp,
                           no_grad, topo_sort)
from autodiff_lite.ops import OPS


# --- bool() and == follow the value; sets and dicts keep identity --------------------------------
def test_bool_follows_the_value_so_control_flow_takes_the_right_branch():
    f = lambda x: x * 2 if x else x * 3                # noqa: E731
    assert grad(f)(0.0) == 3.0 and grad(f)(0.5) == 2.0
    assert jvp(f, (0.0,), (1.0,)) == (0.0, 3.0)
    assert not Value(0.0) and Value(-1e-300) and not Dual(0.0, 1.0) and Dual(2.0)


def test_equality_compares_values_like_the_orderings():
    f = lambda x: x * x if x == 1.0 else x             # noqa: E731
    assert grad(f)(1.0) == 2.0 and grad(f)(3.0) == 1.0
    assert jvp(f, (1.0,), (1.0,)) == (1.0, 2.0)
    g = lambda x: x if x != 0.0 else x * 5             # noqa: E731
    assert grad(g)(0.0) == 5.0 and grad(g)(2.0) == 1.0
    assert Value(2.0) == Value(2.0) and Value(2.0) != Value(3.0) and Value(2.0) == 2.0
    assert Dual(2.0, 1.0) == Dual(2.0, 7.0) and Dual(2.0) != 3.0


def test_nodes_with_equal_values_stay_distinct_in_sets_dicts_and_graphs():
    a, b = Value(1.0, label='a'), Value(1.0, label='b')
    assert a == b and len({a, b}) == 2 and len({a: 1, b: 2}) == 2 and hash(a) != hash(b)
    c = a * b + a - b                                  # every node of value 1 or 0
    assert len(topo_sort(c)) == 5
    c.backward()
    assert (a.grad, b.grad) == (2.0, 0.0)              # d/da (ab + a - b) = b + 1, d/db = a - 1
    t, u = Tensor([1.0]), Tensor([1.0])
    assert t is not u and t != u and len({t, u}) == 2  # tensors: == stays identity


def test_truth_agrees_with_pytorch():
    torch = pytest.importorskip('torch')
    for v in (0.0, -0.0, 2.5, float('nan')):
        assert bool(Value(v)) == bool(torch.tensor(v)) == bool(Dual(v, 1.0))


# --- jacobian and hessian keep an n-D input's shape ---------------------------------------------
X = np.array([[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize('mode', ['reverse', 'forward'])
def test_jacobian_of_a_2d_input_has_the_inputs_shape(mode):
    J = jacobian(lambda v: v[0] * v[1], mode=mode)(X)    # rows: [x00 x10, x01 x11]
    assert J.shape == (2, 2, 2)
    expected = np.zeros((2, 2, 2))
    expected[0, 0, 0], expected[0, 1, 0] = X[1, 0], X[0, 0]
    expected[1, 0, 1], expected[1, 1, 1] = X[1, 1], X[0, 1]
    np.testing.assert_array_equal(J, expected)
    np.testing.assert_array_equal(jacobian(lambda v: (v * v).sum(), mode=mode)(X), 2 * X)


def test_hessian_of_a_2d_input_has_twice_the_inputs_shape():
    H = hessian(lambda v: (v[0] * v[1]).sum() + v[0][0] ** 3)(X)
    assert H.shape == (2, 2, 2, 2)
    expected = np.zeros((2, 2, 2, 2))
    expected[0, 0, 1, 0] = expected[1, 0, 0, 0] = expected[0, 1, 1, 1] = expected[1, 1, 0, 1] = 1.0
    expected[0, 0, 0, 0] = 6 * X[0, 0]
    np.testing.assert_array_equal(H, expected)


def test_nd_jacobian_and_hessian_agree_with_pytorch():
    torch = pytest.importorskip('torch')
    from torch.autograd.functional import hessian as t_hessian, jacobian as t_jacobian
    Xt = torch.tensor(X, dtype=torch.float64)
    np.testing.assert_allclose(jacobian(lambda v: v[0] * v[1])(X), t_jacobian(lambda v: v[0] * v[1], Xt).numpy())
    f = lambda v: (v[0] * v[1]).sum() * v[1][0]        # noqa: E731
    np.testing.assert_allclose(hessian(f)(X), t_hessian(f, Xt).numpy())


# --- special points: PyTorch's number, or an error naming the op --------------------------------
def test_negative_base_to_a_tensor_power_gives_nan_gradient_as_pytorch():
    x = Tensor([2.0, 3.0], requires_grad=True)
    y = ((-2.0) ** x).sum()
    y.backward()                                        # was a bare 'math domain error'
    assert y.item() == -4.0 and np.isnan(x.grad).all()
    torch = pytest.importorskip('torch')
    xt = torch.tensor([2.0, 3.0], dtype=torch.float64, requires_grad=True)
    ((-2.0) ** xt).sum().backward()
    assert torch.isnan(xt.grad).all()


def test_overflow_gives_inf_as_multiplication_does():
    assert (Value(1e200) ** 2).data == math.inf == (Value(1e200) * Value(1e200)).data
    assert (Value(-1e200) ** 3).data == -math.inf
    assert Value(1000.0).exp().data == math.inf and Dual(1000.0, 1.0).exp().primal == math.inf
    torch = pytest.importorskip('torch')
    assert torch.tensor(1e200, dtype=torch.float64) ** 2 == math.inf


def test_create_graph_builds_the_gradients_graph_inside_no_grad():
    x = Value(3.0)
    y = x * x * x
    with no_grad():
        y.backward(create_graph=True)
    g = x.grad                                          # 3 x^2 = 27, with a graph
    assert g.data == 27.0 and g.requires_grad
    x.grad = 0.0
    g.backward()
    assert x.grad == 18.0                               # 6 x


def test_forward_mode_has_detach_sum_and_dot():
    x, y = Dual(2.0, 1.0), Dual(3.0, 0.0)
    assert (x * x.detach()).tangent == 2.0              # d/dx (x * c) at c = x = 2
    s = Dual.sum([x, y, 4.0])
    assert (s.primal, s.tangent) == (9.0, 1.0)
    d = Dual.dot([x, y], [y, x])                        # 2 x y
    assert (d.primal, d.tangent) == (12.0, 6.0)
    with pytest.raises(ValueError, match='same length'):
        Dual.dot([x], [x, y])


def test_a_0d_tensor_accepts_axis_minus_1_and_0_as_pytorch():
    t = Tensor(2.0, requires_grad=True)
    s = t.softmax()
    assert s.item() == 1.0
    s.backward()
    assert t.grad == 0.0
    for axis in (-1, 0):
        assert Tensor(3.0).sum(axis=axis).item() == 3.0 and Tensor(3.0).mean(axis).item() == 3.0
    with pytest.raises(ValueError, match='axis 1 is out of range.*-1 or 0'):
        Tensor(3.0).sum(axis=1)


def test_the_per_node_check_accepts_a_one_sided_derivative_at_a_kink():
    x = Value(0.0, label='x')
    y = x.relu() + x.abs()
    assert all(c.ok for c in check_local_gradients(y))  # relu'(0) = 0 and |x|'(0) = 0 are subgradients
    saved = OPS['relu'].partials
    try:
        OPS['relu'].partials = (lambda a, out: 3.0,)      # wrong on either side of the kink
        assert not all(c.ok for c in check_local_gradients(Value(0.0).relu()))
        assert not all(c.ok for c in check_local_gradients(Value(1.0).relu()))
    finally:
        OPS['relu'].partials = saved
