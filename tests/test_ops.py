"""Every row of the primitive table, tested generically: a new row is covered with no new test."""
import math

import numpy as np
import pytest

from autodiff_lite import Dual, Value
from autodiff_lite.ops import OPS

FIXED = [name for name, row in OPS.items() if not row.variadic]
VARIADIC = [name for name, row in OPS.items() if row.variadic]

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


def _central(f, args, i, h=1e-6):
    up, down = list(args), list(args)
    up[i] += h
    down[i] -= h
    return (f(*up) - f(*down)) / (2 * h)


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
            expected = _central(row.f, args, i)
            assert row.partials[i](*args, out) == pytest.approx(expected, rel=1e-6, abs=1e-8), (name, i, args)


@pytest.mark.parametrize('name', VARIADIC)
def test_variadic_partials_match_central_differences(name):
    row = OPS[name]
    args = [0.5, -1.5, 2.0, 0.25, 3.0, -0.75]
    out = row.f(*args)
    partials = row.partials[0](args, out)
    assert len(partials) == len(args)
    for i in range(len(args)):
        assert partials[i] == pytest.approx(_central(row.f, args, i), rel=1e-6)
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
    """Apply op `name` through the public Value/Dual interface."""
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
        tname = {'relu': 'relu', 'sigmoid': 'sigmoid', 'abs': 'abs'}.get(name, name)
        t_out = op(*ts) if name in ('add', 'sub', 'mul', 'div', 'pow', 'neg') else getattr(torch, tname)(ts[0])
        t_out.backward()
        vals = [Value(a) for a in args]
        out = op(*vals)
        out.backward()
        assert out.data == pytest.approx(t_out.item(), rel=1e-12)
        for v, t in zip(vals, ts):
            assert v.grad == pytest.approx(t.grad.item(), rel=1e-10, abs=1e-12)


def test_sigmoid_is_stable_for_large_inputs():
    assert OPS['sigmoid'].f(1000.0) == 1.0
    assert OPS['sigmoid'].f(-1000.0) == 0.0
    assert math.isclose(OPS['sigmoid'].f(0.0), 0.5)
