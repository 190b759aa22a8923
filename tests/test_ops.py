"""Every row of the primitive table, tested generically: a new row is covered with no new test."""
import math

import numpy as np
import pytest

from autodiff_lite import Dual, Tensor, Value, draw_graph, gradcheck, grad, hessian, jvp
from autodiff_lite.gradcheck import central_difference, check_op
from autodiff_lite.ops import OPS, apply, define_op, exp, log, sigmoid

FIXED = [name for name, row in OPS.items() if not row.variadic]
# (the checkpoint row's first input is a recipe, not a number: tests/test_checkpoint.py)
VARIADIC = [name for name, row in OPS.items() if row.variadic and name != 'checkpoint']

# points chosen away from kinks (relu, abs at 0) and inside every domain
POINTS = [(0.7, 1.3), (1.9, 0.6), (-0.8, 1.7), (-1.4, -2.2), (2.5, 3.0)]


def _valid_points(row):
    pts = []
    for p in POINTS:
        args = p[:row.arity]
        try:
            out = row.f(*args)
        except (ArithmeticError, ValueError):
            continue
        if isinstance(out, complex):
            continue
        pts.append(args)
    return pts


@pytest.mark.parametrize('name', FIXED)
def test_every_partial_matches_central_differences(name):
    row = OPS[name]
    pts = _valid_points(row)
    assert pts, f'no valid sample point for {name}'
    for args in pts:
        out = row.f(*args)
        for i in range(row.arity):
            if name == 'pow' and i == 1 and args[0] <= 0:
                continue        # d(a^b)/db = a^b log a needs a > 0
            expected = central_difference(row.f, args, i)
            assert row.partials[i](*args, out) == pytest.approx(expected, rel=1e-6, abs=1e-8), (name, i, args)


@pytest.mark.parametrize('name', VARIADIC)
def test_variadic_partials_match_central_differences(name):
    row = OPS[name]
    args = [0.5, -1.5, 2.0, 0.25, 3.0, -0.75]
    out = row.f(*args)
    partials = row.partials[0](args, out)
    assert len(partials) == len(args)
    for i in range(len(args)):
        assert partials[i] == pytest.approx(central_difference(row.f, args, i), rel=1e-6)
        assert row.partial(i, args, out) == partials[i]


@pytest.mark.parametrize('name', FIXED)
def test_forward_works_on_numpy_arrays_like_on_floats(name):
    """The Tensor engine reuses each row elementwise: f on an array = f on each float."""
    row = OPS[name]
    pts = _valid_points(row)
    cols = [np.array([p[i] for p in pts]) for i in range(row.arity)]
    out = row.f(*cols)
    for k, p in enumerate(pts):
        assert out[k] == pytest.approx(row.f(*p), rel=1e-12)
        for i in range(row.arity):
            if name == 'pow' and i == 1 and (cols[0] <= 0).any():
                continue
            part = np.broadcast_to(row.partials[i](*cols, out), out.shape)
            assert part[k] == pytest.approx(row.partials[i](*p, row.f(*p)), rel=1e-12)


def _method(name):
    """Op `name` as a function of Values, Duals or torch tensors: its operator or method."""
    binary = {'add': lambda a, b: a + b, 'sub': lambda a, b: a - b, 'mul': lambda a, b: a * b,
              'div': lambda a, b: a / b, 'pow': lambda a, b: a ** b}
    if name in binary:
        return binary[name]
    if name == 'neg':
        return lambda a: -a
    return lambda a: getattr(a, name)()


@pytest.mark.parametrize('name', FIXED)
def test_value_gradient_equals_dual_tangent(name):
    row = OPS[name]
    op = _method(name)
    for args in _valid_points(row):
        for i in range(row.arity):
            if name == 'pow' and i == 1 and args[0] <= 0:
                continue
            vals = [Value(a) for a in args]
            out = op(*vals)
            out.backward()
            duals = [Dual(a, 1.0 if k == i else 0.0) for k, a in enumerate(args)]
            d = op(*duals)
            assert d.primal == pytest.approx(out.data)
            assert vals[i].grad == pytest.approx(d.tangent, rel=1e-12), (name, i, args)


@pytest.mark.parametrize('name', FIXED)
def test_against_pytorch(name):
    torch = pytest.importorskip('torch')
    op = _method(name)
    for args in _valid_points(OPS[name]):
        if name == 'pow' and args[0] <= 0:
            continue
        ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in args]
        t_out = getattr(torch, name)(*ts)          # torch's names are the rows' names
        t_out.backward()
        vals = [Value(a) for a in args]
        out = apply(name, *vals)
        out.backward()
        assert out.data == pytest.approx(t_out.item(), rel=1e-12)
        for v, t in zip(vals, ts):
            assert v.grad == pytest.approx(t.grad.item(), rel=1e-10, abs=1e-12)


def test_sigmoid_is_stable_for_large_inputs():
    assert OPS['sigmoid'].f(1000.0) == 1.0
    assert OPS['sigmoid'].f(-1000.0) == 0.0
    assert math.isclose(OPS['sigmoid'].f(0.0), 0.5)


# --- second derivatives: the rule that a partial uses only operators and other rows ---------
def _second_order_points(row):
    # pow: a positive base, where the exponent's partial a^b ln a exists too
    return [p for p in _valid_points(row) if row.name != 'pow' or p[0] > 0]


@pytest.mark.parametrize('name', [n for n in FIXED if not OPS[n].surrogate])
def test_every_row_differentiates_twice(name):
    """hessian (Value through create_graph) and Dual over Dual against central differences of
    the first derivative: a partial written on plain numbers fails here, with the row's name."""
    assert check_op(name, *_second_order_points(OPS[name])) == []


@pytest.mark.parametrize('name', VARIADIC)
def test_variadic_rows_differentiate_twice(name):
    assert check_op(name, (0.5, -1.5, 2.0, 0.25), (1.0, 2.0)) == []


@pytest.fixture
def scratch_rows():
    """Rows a test defines at run time, taken out of the table afterwards."""
    before = set(OPS)
    yield
    for name in set(OPS) - before:
        del OPS[name]


def test_a_partial_through_a_plain_helper_fails_with_the_rows_name(scratch_rows):
    def cosh(a):                       # a helper on plain numbers: no row of its own
        return (math.exp(a) + math.exp(-a)) / 2
    define_op('sinh_broken', lambda a: np.sinh(a) if isinstance(a, np.ndarray) else math.sinh(a),
              lambda a, out: cosh(a))
    problems = check_op('sinh_broken', (0.5,), (-1.2,))
    assert problems and all("row 'sinh_broken'" in p for p in problems)
    assert any('only operators and other rows' in p for p in problems)
    # the same row with its partial written in rows differentiates twice
    define_op('sinh_ok', lambda a: np.sinh(a) if isinstance(a, np.ndarray) else math.sinh(a),
              lambda a, out: (exp(a) + exp(-a)) / 2)
    assert check_op('sinh_ok', (0.5,), (-1.2,)) == []


def test_a_row_defined_in_a_test_works_in_every_engine(scratch_rows):
    """softplus(a) = log(1 + e^a), partial sigmoid(a): one call, and no other code."""
    softplus = define_op('softplus_t', lambda a: np.logaddexp(0.0, a), lambda a, out: sigmoid(a))
    s = lambda a: 1 / (1 + math.exp(-a))                       # noqa: E731
    # plain numbers and arrays
    assert softplus(0.0) == pytest.approx(math.log(2.0))
    np.testing.assert_allclose(softplus(np.array([0.0, 1.0])), np.log1p(np.exp([0.0, 1.0])))
    # Value backward
    x = Value(0.7, label='x')
    y = softplus(x * 2.0)
    y.backward()
    assert y.data == pytest.approx(math.log1p(math.exp(1.4)))
    assert x.grad == pytest.approx(2 * s(1.4))
    # Dual: the tangent is the derivative
    d = softplus(Dual(0.7, 1.0))
    assert d.tangent == pytest.approx(s(0.7))
    assert grad(lambda v: softplus(v))(0.7) == pytest.approx(s(0.7))
    assert jvp(lambda v: softplus(v), (0.7,), (1.0,))[1] == pytest.approx(s(0.7))
    # Tensor, with broadcasting into the row's input
    a = Tensor([[0.5], [-1.0]], requires_grad=True)
    b = Tensor([0.1, 0.2, -0.3], requires_grad=True)
    softplus(a + b).sum().backward()
    z = np.array([[0.5], [-1.0]]) + np.array([0.1, 0.2, -0.3])
    sig = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(a.grad, sig.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(b.grad, sig.sum(axis=0))
    # second derivatives: hessian, and the row's own check
    assert hessian(lambda v: softplus(v))(0.7)[0][0] == pytest.approx(s(0.7) * (1 - s(0.7)))
    assert check_op('softplus_t', (0.7,), (-2.0,), (3.0,)) == []
    # gradient checking and the drawing
    assert gradcheck(lambda v, w: softplus(v * w), 0.3, -1.1)
    view = draw_graph(y)
    assert 'softplus_t' in view.source


def test_a_runtime_binary_row_broadcasts_in_the_tensor_engine(scratch_rows):
    """logaddexp(a, b) = log(e^a + e^b): partials e^(a - out), e^(b - out)."""
    lae = define_op('logaddexp_t', np.logaddexp, lambda a, b, out: exp(a - out),
                    lambda a, b, out: exp(b - out), symbol='lae')
    a = Tensor(np.array([[0.3], [-0.4]]), requires_grad=True)
    b = Tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    lae(a, b).sum().backward()
    out = np.logaddexp(a.data, b.data)
    np.testing.assert_allclose(a.grad, np.exp(a.data - out).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(b.grad, np.exp(b.data - out).sum(axis=0))
    assert check_op('logaddexp_t', (0.3, 1.0), (-0.4, -2.0)) == []
    assert lae(Value(0.3), 1.0).data == pytest.approx(np.logaddexp(0.3, 1.0))


def test_define_op_rejects_bad_rows_with_clear_errors(scratch_rows):
    with pytest.raises(TypeError, match='one partial per input'):
        define_op('nothing_t', lambda a: a)
    with pytest.raises(TypeError, match="the partial 0 must be a function"):
        define_op('bad_t', lambda a: a, 1.0)
    with pytest.raises(TypeError, match='one partials function for a variadic op'):
        define_op('var_t', lambda *xs: sum(xs), lambda xs, out: 1, lambda xs, out: 1, variadic=True)


def test_a_surrogate_row_is_skipped_by_the_second_derivative_check(scratch_rows):
    # a straight-through estimator: round forward, identity backward
    define_op('round_ste_t', lambda a: np.round(a) if isinstance(a, np.ndarray) else float(round(a)),
              lambda a, out: 1.0, surrogate=True)
    problems = check_op('round_ste_t', (0.2,))
    assert problems and all('partial 0' in p for p in problems)   # only the first-order check ran
    x = Value(0.2)
    y = apply('round_ste_t', x * 3.0)
    y.backward()
    assert y.data == 1.0 and x.grad == 3.0                       # straight through
