"""Tensor: every op's gradient against central differences, every broadcasting
pattern, the rule table, Value agreement, PyTorch agreement, and clear errors."""
import gc
import math
import operator
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autodiff_lite import no_grad
from autodiff_lite import tensor as tmod
from autodiff_lite.checkpoint import checkpoint
from autodiff_lite.graph import topo_sort
from autodiff_lite.ops import OPS, apply
from autodiff_lite.tensor import (RULES, Tensor, concatenate, cross_entropy, linear, log_softmax,
                                  mse, softmax, stack, unbroadcast)
from autodiff_lite.value import Value
from autodiff_lite.gradcheck import central_difference

ELEMENTWISE = [name for name, row in OPS.items() if not row.variadic]
BINARY = [name for name in ELEMENTWISE if OPS[name].arity == 2]
UNARY = [name for name in ELEMENTWISE if OPS[name].arity == 1]

# shapes that all broadcast to (4, 2, 3): a scalar, a row, a column, a size-1 axis in the middle ...
PATTERNS = [(), (1,), (3,), (1, 3), (2, 1), (2, 3), (4, 1, 3), (4, 2, 1), (1, 2, 3), (4, 2, 3), (4, 1, 1)]


# --- helpers ---------------------------------------------------------------------------------
def seed_of(*key):
    """A seed fixed by the test's parameters (hash() of a str changes between runs)."""
    return zlib.crc32(repr(key).encode())


def sample(name, shape, rng):
    """Inputs inside a row's domain: positive for rows with a domain (log, sqrt, pow, div),
    otherwise either sign but away from 0 (the kinks of relu and abs)."""
    x = rng.uniform(0.5, 2.0, size=shape)
    if not OPS[name].domain:
        x = x * rng.choice([-1.0, 1.0], size=shape)
    return np.asarray(x)


def numerical_grads(f, arrays, weights, h=1e-6):
    """d/d arrays[i] of sum(weights * f(arrays)) by central differences (f on plain Tensors)."""
    def total(xs):
        with no_grad():
            return float(np.sum(weights * f(*[Tensor(x) for x in xs]).data))
    grads = []
    for i, x in enumerate(arrays):
        g = np.zeros_like(x, dtype=float)
        for idx in np.ndindex(x.shape):
            def entry(v):
                xs = [a.copy() for a in arrays]
                xs[i][idx] = v
                return total(xs)
            g[idx] = central_difference(entry, [x[idx]], 0, h)
        grads.append(g)
    return grads


def check_grads(f, *arrays, seed=0, rtol=1e-5, atol=1e-7):
    """Backward with random weights on the output vs central differences; grad shape == data shape."""
    arrays = [np.array(a, dtype=float) for a in arrays]
    ts = [Tensor(a, requires_grad=True) for a in arrays]
    out = f(*ts)
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(weights)
    for t, num in zip(ts, numerical_grads(f, arrays, weights)):
        assert t.grad is not None
        assert t.grad.shape == t.data.shape
        np.testing.assert_allclose(t.grad, num, rtol=rtol, atol=atol)
    return ts


# --- the seed's PyTorch example ------------------------------------------------------------
def test_seed_linear_regression_example():
    x = Tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y_true = Tensor([2.0, 4.0, 6.0, 8.0])
    w = Tensor(1.0, requires_grad=True)
    b = Tensor(0.0, requires_grad=True)
    loss = ((w * x + b - y_true) ** 2).mean()
    loss.backward()
    assert loss.item() == 7.5
    assert w.grad == pytest.approx(-15.0)
    assert b.grad == pytest.approx(-5.0)
    np.testing.assert_allclose(x.grad, [-0.5, -1.0, -1.5, -2.0])
    assert w.grad.shape == () and b.grad.shape == () and x.grad.shape == (4,)


# --- elementwise rows of ops.OPS -------------------------------------------------------------
@pytest.mark.parametrize('name', ELEMENTWISE)
@pytest.mark.parametrize('shape', [(), (3,), (2, 3), (2, 1, 3)])
def test_elementwise_row_gradient(name, shape):
    rng = np.random.default_rng(seed_of(name, shape))
    arrays = [sample(name, shape, rng) for _ in range(OPS[name].arity)]
    check_grads(lambda *ts: apply(name, *ts), *arrays)


PUBLIC = {'add': operator.add, 'sub': operator.sub, 'mul': operator.mul, 'div': operator.truediv,
          'pow': operator.pow, 'neg': operator.neg, 'abs': abs}


@pytest.mark.parametrize('name', ELEMENTWISE)
def test_every_row_has_a_tensor_method(name):
    fn = PUBLIC.get(name) or getattr(Tensor, name, None)
    assert fn is not None, f'OPS row {name!r} has no Tensor method: add `def {name}(self)`'
    rng = np.random.default_rng(1)
    arrays = [sample(name, (2, 3), rng) for _ in range(OPS[name].arity)]
    out = fn(*[Tensor(a) for a in arrays])
    assert out._op == name
    np.testing.assert_allclose(out.data, OPS[name].f(*arrays))


@pytest.mark.parametrize('name', BINARY)
@pytest.mark.parametrize('sa', PATTERNS, ids=str)
@pytest.mark.parametrize('sb', PATTERNS, ids=str)
def test_broadcasting_pattern_gradients(name, sa, sb):
    rng = np.random.default_rng(seed_of(name, sa, sb))
    check_grads(lambda a, b: apply(name, a, b), sample(name, sa, rng), sample(name, sb, rng))


def test_constants_on_either_side_get_no_gradient_and_keep_their_place():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = 3.0 - x
    assert y._prev == (3.0, x)
    z = np.array([[1.0], [2.0]]) * x          # ndarray on the left calls Tensor.__rmul__
    assert isinstance(z, Tensor) and z.shape == (2, 2)
    (y.sum() + z.sum()).backward()
    np.testing.assert_allclose(x.grad, [-1 + 3, -1 + 3])


def test_unbroadcast_sums_stretched_axes():
    g = np.arange(24.0).reshape(4, 2, 3)
    np.testing.assert_allclose(unbroadcast(g, (4, 1, 3)), g.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(unbroadcast(g, (3,)), g.sum(axis=(0, 1)))
    np.testing.assert_allclose(unbroadcast(g, (2, 1)), g.sum(axis=(0, 2)).reshape(2, 1))
    assert unbroadcast(g, ()) == g.sum()
    assert unbroadcast(g, (4, 2, 3)) is g


# --- the rule table ---------------------------------------------------------------------------
def _ce(logits):
    return cross_entropy(logits, [0, 2, 1, 2, 0])


RULE_CASES = {
    'matmul': [(operator.matmul, [(2, 3), (3, 4)]), (operator.matmul, [(3,), (3, 4)]),
               (operator.matmul, [(2, 3), (3,)]), (operator.matmul, [(3,), (3,)]),
               (operator.matmul, [(5, 2, 3), (5, 3, 4)]), (operator.matmul, [(2, 1, 2, 3), (3, 3, 2)]),
               (operator.matmul, [(3,), (2, 3, 4)]), (operator.matmul, [(2, 2, 3), (3,)])],
    'linear': [(linear, [(5, 3), (3, 4), (4,)]), (linear, [(2, 5, 3), (3, 4), (4,)]),
               (linear, [(3,), (3, 2), (2,)])],
    'sum': [(lambda a: a.sum(), [(2, 3, 4)]), (lambda a: a.sum(axis=1), [(2, 3, 4)]),
            (lambda a: a.sum(axis=(0, 2), keepdims=True), [(2, 3, 4)]),
            (lambda a: a.sum(axis=-1), [(2, 3)])],
    'mean': [(lambda a: a.mean(), [(2, 3, 4)]), (lambda a: a.mean(axis=0), [(2, 3, 4)]),
             (lambda a: a.mean(axis=(1, 2), keepdims=True), [(2, 3, 4)])],
    'max': [(lambda a: a.max(), [(2, 3, 4)]), (lambda a: a.max(axis=1), [(2, 3, 4)]),
            (lambda a: a.max(axis=-1, keepdims=True), [(2, 3)])],
    'reshape': [(lambda a: a.reshape(3, 4), [(2, 6)]), (lambda a: a.reshape((-1,)), [(2, 3, 2)])],
    'transpose': [(lambda a: a.T, [(2, 3)]), (lambda a: a.transpose(1, 2, 0), [(2, 3, 4)]),
                  (lambda a: a.transpose((0, 2, 1)), [(2, 3, 4)])],
    'getitem': [(lambda a: a[1], [(3, 4)]), (lambda a: a[:, 1:3], [(3, 4)]),
                (lambda a: a[[0, 2, 0, 0]], [(3, 4)]), (lambda a: a[np.array([2, -1]), 1:], [(3, 4)]),
                (lambda a: a[a.data > 0], [(3, 4)]), (lambda a: a[..., None, -1], [(2, 3, 4)]),
                (lambda a: a[[0, 1, 1], [2, 2, 0]], [(3, 4)])],
    'concatenate': [(lambda a, b: concatenate([a, b]), [(2, 3), (4, 3)]),
                    (lambda a, b, c: concatenate((a, b, c), axis=1), [(2, 1), (2, 3), (2, 2)])],
    'stack': [(lambda a, b: stack([a, b]), [(2, 3), (2, 3)]),
              (lambda a, b: stack([a, b], axis=-1), [(2, 3), (2, 3)])],
    'softmax': [(softmax, [(3, 4)]), (lambda a: a.softmax(axis=0), [(3, 4)]), (softmax, [(5,)])],
    'log_softmax': [(log_softmax, [(3, 4)]), (lambda a: a.log_softmax(axis=0), [(3, 4)])],
    'cross_entropy': [(_ce, [(5, 3)])],
    'mse': [(mse, [(5, 2), (5, 2)]), (mse, [(4,), (4,)])],
    'checkpoint': [(lambda a: checkpoint(lambda t: (t * t).tanh().sum(axis=0), a), [(3, 2)]),
                   (lambda a, b: checkpoint(lambda s, t: s @ t + s.sum(), a, b), [(2, 3), (3, 2)])],
}


def test_every_rule_has_gradient_cases():
    assert set(RULE_CASES) == set(RULES), 'a RULES row without a test case (or a stale case)'


@pytest.mark.parametrize('name,case', [(n, c) for n in RULE_CASES for c in range(len(RULE_CASES[n]))])
def test_rule_gradient(name, case):
    fn, shapes = RULE_CASES[name][case]
    rng = np.random.default_rng(case)
    arrays = [rng.standard_normal(s) for s in shapes]
    ts = check_grads(fn, *arrays, rtol=1e-5, atol=1e-6)
    out = fn(*ts)
    assert out._op == name                   # the case exercises the rule it claims to
    assert out._prev[:len(ts)] == tuple(ts)


def test_max_splits_the_gradient_between_ties():
    x = Tensor([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [1, 0, 0]])


def test_repeated_indices_accumulate():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x[[0, 0, 2, 0]]
    (y * Tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    np.testing.assert_allclose(x.grad, [1 + 2 + 4, 0, 3])


def test_softmax_family_is_stable_for_large_inputs():
    big = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0]])
    s = softmax(Tensor(big)).data
    ls = log_softmax(Tensor(big)).data
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(ls))
    np.testing.assert_allclose(s[0], softmax(Tensor([0.0, 1.0, 2.0])).data)
    np.testing.assert_allclose(np.exp(ls), s)
    logits = Tensor(big, requires_grad=True)
    loss = cross_entropy(logits, [0, 2])
    loss.backward()
    assert loss.item() == pytest.approx(-ls[0, 0] / 2 - ls[1, 2] / 2)
    assert np.all(np.isfinite(logits.grad))


def test_cross_entropy_value_by_hand():
    logits = Tensor([[2.0, 1.0, 0.1]], requires_grad=True)
    loss = cross_entropy(logits, [0])
    p = np.exp([2.0, 1.0, 0.1]) / np.exp([2.0, 1.0, 0.1]).sum()
    assert loss.item() == pytest.approx(-math.log(p[0]))
    loss.backward()
    np.testing.assert_allclose(logits.grad, [p - [1, 0, 0]])


# --- graph semantics ----------------------------------------------------------------------------
def test_graph_records_inputs_in_order_with_repeats():
    a = Tensor([1.0, 2.0], requires_grad=True)
    y = a * a
    assert y._prev == (a, a) and y._op == 'mul'
    y.sum().backward()
    np.testing.assert_allclose(a.grad, [2.0, 4.0])


def test_leaves_accumulate_interior_grads_reset_and_are_kept():
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x * 3.0
    loss = h.sum()
    loss.backward()
    loss.backward()
    np.testing.assert_allclose(x.grad, [6.0, 6.0])         # leaf: accumulated over two calls
    np.testing.assert_allclose(h.grad, [1.0, 1.0])         # interior: reset, then kept
    x.zero_grad()
    assert x.grad is None


def test_backward_walks_topo_sort_when_a_node_feeds_old_and_new_ops():
    # b feeds d (made 4th) and e (made 5th); c is made after b but before d.
    # e = b * (c * b) = (a + 1) (2a)^2, so de/da = 12 a^2 + 8 a = 132 at a = 3.
    a = Tensor([3.0, -1.0], requires_grad=True)
    b = a * 2.0
    c = a + 1.0
    d = c * b
    e = b * d
    order = topo_sort(e)                        # the walk Value uses too
    assert order.index(b) < order.index(d) < order.index(e) and order.index(c) < order.index(d)
    e.backward(np.ones(2))
    av = np.array([3.0, -1.0])
    np.testing.assert_allclose(a.grad, 12 * av ** 2 + 8 * av)
    np.testing.assert_allclose(b.grad, 2 * (av + 1) * (2 * av))     # de/db = 2 c b
    # from an older interior node: only its own inputs are walked, and the
    # newer nodes keep the gradients of the first call
    a.zero_grad()
    c.backward(np.ones(2))
    np.testing.assert_allclose(a.grad, [1.0, 1.0])
    assert topo_sort(c) == [a, c]
    np.testing.assert_allclose(e.grad, [1.0, 1.0])


def test_backward_on_a_leaf_seeds_its_own_gradient():
    x = Tensor(2.0, requires_grad=True)
    x.backward()
    x.backward()
    assert x.grad == 2.0 and topo_sort(x) == [x]


def test_leaf_gradient_is_its_own_array():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = Tensor([3.0, 4.0], requires_grad=True)
    s = x + y
    s.backward(np.ones(2))
    x.grad[0] = 100.0                      # a student edits one gradient in place
    np.testing.assert_allclose(y.grad, [1.0, 1.0])
    np.testing.assert_allclose(s.grad, [1.0, 1.0])


def test_no_grad_builds_no_graph_and_detach_stops_gradients():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        y = (x * 2).exp()
    assert y._prev == () and not y.requires_grad
    d = x.detach()
    assert d.data is x.data and not d.requires_grad
    z = (x * d).sum()
    z.backward()
    np.testing.assert_allclose(x.grad, [1.0, 2.0])     # d counted as a constant


def test_inputs_without_requires_grad_get_no_gradient():
    x = Tensor(np.ones((3, 2)))
    w = Tensor(np.ones((2, 1)), requires_grad=True)
    (x @ w).sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(w.grad, [[3.0], [3.0]])


def test_float32_stays_float32_end_to_end():
    x = Tensor(np.ones((4, 3), dtype=np.float32))
    w = Tensor(np.full((3, 2), 0.5), dtype=np.float32, requires_grad=True)
    b = Tensor(np.zeros(2), dtype='float32', requires_grad=True)
    out = ((linear(x, w, b).relu() * 2.0 + 1).tanh() - 0.5).sigmoid()
    loss = cross_entropy(out, [0, 1, 0, 1]) + mse(out, np.zeros((4, 2), np.float32))
    assert out.dtype == np.float32 and loss.dtype == np.float32
    loss.backward()
    assert w.grad.dtype == np.float32 and b.grad.dtype == np.float32


def test_constructor_defaults_and_accessors():
    t = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.dtype == np.float64 and t.shape == (2, 3) and t.ndim == 2 and t.size == 6
    assert t.T.shape == (3, 2) and t.numpy() is t.data and len(t) == 2
    assert Tensor(2.5).item() == 2.5 and float(Tensor([[2.5]])) == 2.5
    assert Tensor([1, 2]).dtype.kind == 'i'
    assert Tensor([1, 2], dtype=np.float32).dtype == np.float32
    assert np.asarray(t) is t.data
    arr = np.ones(3)
    assert Tensor(arr).data is arr                         # no copy for data
    p = Tensor(arr, requires_grad=True)
    p.data -= 1
    assert arr[0] == 1.0                                   # a parameter owns its array
    assert 'requires_grad=True' in repr(p) and "op='mul'" in repr(p * 2)


def test_long_chain_does_not_recurse():
    x = Tensor([0.5], requires_grad=True)
    y = x
    for _ in range(20000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad[0] == pytest.approx(1.0)


def test_graph_has_no_reference_cycles():
    gc.collect()
    gc.disable()
    try:
        x = Tensor(np.ones((3, 2)), requires_grad=True)
        loss = cross_entropy((x @ Tensor(np.ones((2, 4)), requires_grad=True)).relu(), [0, 1, 3])
        loss.backward()
        del x, loss
        assert gc.collect() == 0         # everything was freed by reference counting alone
    finally:
        gc.enable()


# --- Value and Tensor agree ----------------------------------------------------------------------
@pytest.mark.parametrize('name', ELEMENTWISE)
def test_value_and_tensor_agree_on_each_row(name):
    rng = np.random.default_rng(7)
    xs = [float(sample(name, (), rng)) for _ in range(OPS[name].arity)]
    vs = [Value(x) for x in xs]
    ts = [Tensor(x, requires_grad=True) for x in xs]
    vout = {1: lambda: getattr(vs[0], name)() if name != 'neg' else -vs[0]}.get(OPS[name].arity)
    v = vout() if vout else PUBLIC[name](*vs)
    t = apply(name, *ts)
    v.backward()
    t.backward()
    assert t.item() == pytest.approx(v.data, rel=1e-12)
    for vi, ti in zip(vs, ts):
        assert ti.grad == pytest.approx(vi.grad, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize('expr', [
    lambda a, b: (a * b + a.exp()).tanh(),
    lambda a, b: (a / (b * b + 1.0)).sigmoid() - a.relu() * 3.0,
    lambda a, b: ((a - b) ** 2 + 1.0).log() * (b.sin() + a.cos()),
    lambda a, b: 2.0 ** a + abs(b) / (1.0 + a * a).sqrt(),
])
def test_value_and_tensor_agree_on_expressions(expr):
    for a0, b0 in [(0.3, -1.2), (1.5, 0.7), (-0.8, 2.0)]:
        va, vb = Value(a0), Value(b0)
        ta, tb = Tensor(a0, requires_grad=True), Tensor(b0, requires_grad=True)
        v, t = expr(va, vb), expr(ta, tb)
        v.backward()
        t.backward()
        assert t.item() == pytest.approx(v.data, rel=1e-12)
        assert ta.grad == pytest.approx(va.grad, rel=1e-10)
        assert tb.grad == pytest.approx(vb.grad, rel=1e-10)


# --- properties ---------------------------------------------------------------------------------
@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast: from a shape of up to 3 dims, each side drops leading axes
    and sets some axes to 1."""
    full = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    def side():
        keep = draw(st.integers(0, len(full)))
        shape = full[len(full) - keep:]
        return tuple(1 if draw(st.booleans()) else n for n in shape)
    return side(), side()


def _expected_mul_grad(grad_out, other, shape):
    """d sum(grad_out * a * b)/da by brute force: loop over output entries and map each
    back to the entry of `a` it came from (independent of unbroadcast)."""
    out_shape = grad_out.shape
    other = np.broadcast_to(other, out_shape)
    padded = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    g = np.zeros(padded)
    for idx in np.ndindex(out_shape):
        src = tuple(0 if n == 1 else i for i, n in zip(idx, padded))
        g[src] += grad_out[idx] * other[idx]
    return g.reshape(shape)


@settings(max_examples=60, deadline=None)
@given(broadcast_pair(), st.integers(0, 2**16))
def test_property_broadcast_gradients_have_input_shapes(shapes, seed):
    sa, sb = shapes
    rng = np.random.default_rng(seed)
    a = Tensor(rng.standard_normal(sa), requires_grad=True)
    b = Tensor(rng.standard_normal(sb), requires_grad=True)
    out = a * b + a
    r = rng.standard_normal(out.shape)
    out.backward(r)
    assert a.grad.shape == sa and b.grad.shape == sb
    np.testing.assert_allclose(b.grad, _expected_mul_grad(r, a.data, sb), atol=1e-12)
    np.testing.assert_allclose(a.grad, _expected_mul_grad(r, b.data + 1.0, sa), atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**16))
def test_property_matmul_matches_central_differences(n, k, m, seed):
    rng = np.random.default_rng(seed)
    check_grads(operator.matmul, rng.standard_normal((n, k)), rng.standard_normal((k, m)))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=6), st.floats(-1e3, 1e3))
def test_property_softmax_is_a_distribution_and_shift_invariant(xs, c):
    s = softmax(Tensor(xs)).data
    assert np.all(s >= 0) and s.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(softmax(Tensor(np.array(xs) + c)).data, s, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=1, max_size=3), st.integers(0, 2**16))
def test_property_sum_and_mean_gradients(shape, seed):
    x = Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)
    (x.sum() + x.mean() * 2).backward()
    np.testing.assert_allclose(x.grad, np.full(shape, 1 + 2 / x.size))


# --- PyTorch cross-check --------------------------------------------------------------------
def test_agrees_with_pytorch():
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(3)
    X, W1, b1 = rng.standard_normal((6, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    W2, y = rng.standard_normal((5, 3)), np.array([0, 2, 1, 1, 0, 2])
    scale = rng.standard_normal((1, 3))

    def net(lib, X, W1, b1, W2, scale):
        h = lib['relu'](X @ W1 + b1)
        logits = (h @ W2) * scale + h[:, :3].tanh() ** 2
        return lib['ce'](logits, y) + logits.max() + lib['log_softmax'](logits).mean()

    ours = [Tensor(a, requires_grad=True) for a in (X, W1, b1, W2, scale)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (X, W1, b1, W2, scale)]
    lo = net({'relu': lambda t: t.relu(), 'ce': cross_entropy, 'log_softmax': log_softmax}, *ours)
    lt = net({'relu': torch.relu, 'ce': lambda z, t: torch.nn.functional.cross_entropy(z, torch.tensor(t)),
              'log_softmax': lambda z: torch.log_softmax(z, -1)}, *theirs)
    lo.backward()
    lt.backward()
    assert lo.item() == pytest.approx(lt.item(), rel=1e-10)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad, t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_agrees_with_pytorch_on_indexing_and_batched_matmul():
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(4)
    A, B = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))
    idx = np.array([2, 0, 2])
    ours = [Tensor(a, requires_grad=True) for a in (A, B)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (A, B)]
    for (a, b), back in ((ours, None), (theirs, torch.tensor(idx))):
        out = (a @ b)[:, idx if back is None else back]
        (out * out).sum().backward()
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad, t.grad.numpy(), rtol=1e-10)


# --- bad input gets a clear error --------------------------------------------------------------
def test_error_shapes_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r'add: shapes \(3, 2\) and \(4,\) do not broadcast.*reshape'):
        Tensor(np.ones((3, 2))) + Tensor(np.ones(4))
    with pytest.raises(ValueError, match=r'mul: shapes \(2, 3\) and \(2,\) do not broadcast.*axis -1 has sizes 3 and 2'):
        Tensor(np.ones((2, 3))) * np.ones(2)


def test_error_matmul_inner_dimensions():
    with pytest.raises(ValueError, match=r'matmul: shapes \(3, 2\) and \(3, 4\).*inner dimensions 2.*and 3.*transpose'):
        Tensor(np.ones((3, 2))) @ Tensor(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r'matmul: shapes \(3,\) and \(2,\).*inner dimensions 3'):
        Tensor(np.ones(3)) @ Tensor(np.ones(2))
    with pytest.raises(ValueError, match=r'batch axes'):
        Tensor(np.ones((2, 3, 4))) @ Tensor(np.ones((3, 4, 5)))
    with pytest.raises(ValueError, match=r'linear: x has shape \(5, 3\) but w has shape \(4, 2\)'):
        linear(Tensor(np.ones((5, 3))), Tensor(np.ones((4, 2))), Tensor(np.ones(2)))


def test_error_backward_on_a_non_scalar():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r'grad can be implicitly created only for scalar outputs; '
                                           r'pass grad= with shape \(2, 3\)'):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r'grad has shape \(3,\) but this tensor has shape \(2, 3\)'):
        (x * 2).backward(np.ones(3))
    with pytest.raises(RuntimeError, match='does not require grad'):
        Tensor([1.0]).backward()


def test_error_requires_grad_on_integers():
    with pytest.raises(TypeError, match=r'only floating-point tensors can require gradients.*int.*dtype=float'):
        Tensor([1, 2], requires_grad=True)
    assert Tensor([1, 2], dtype=float, requires_grad=True).dtype == np.float64


def test_error_ragged_list_and_non_numbers():
    with pytest.raises(ValueError, match=r'ragged nested list.*same length'):
        Tensor([[1.0, 2.0], [3.0]])
    with pytest.raises(TypeError, match=r'needs numbers.*Values'):
        Tensor([Value(1.0), Value(2.0)])
    with pytest.raises(TypeError, match=r'a Tensor and a Value do not mix'):
        Tensor([1.0]) + Value(2.0)


def test_error_index_out_of_range():
    x = Tensor(np.ones((3, 4)), requires_grad=True)
    with pytest.raises(IndexError, match=r'index 5 is out of bounds for axis 0 with size 3.*shape \(3, 4\)'):
        x[5]
    with pytest.raises(IndexError, match=r'index 7 is out of bounds for axis 1 with size 4'):
        x[[0, 1], [1, 7]]


def test_error_cross_entropy_targets():
    logits = Tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r'target 4 \(row 1\) is out of range.*C = 4.*\[0, 4\)'):
        cross_entropy(logits, [0, 4, 1])
    with pytest.raises(ValueError, match=r'target -1 \(row 2\)'):
        cross_entropy(logits, [0, 1, -1])
    with pytest.raises(ValueError, match=r'targets must have shape \(3,\)'):
        cross_entropy(logits, [0, 1])
    with pytest.raises(TypeError, match=r'class indices'):
        cross_entropy(logits, [0.5, 1, 2])
    with pytest.raises(ValueError, match=r'logits must have shape \(N, C\)'):
        cross_entropy(Tensor(np.zeros(4)), [1])


def test_error_mse_shapes_and_domains_and_axes():
    with pytest.raises(ValueError, match=r'mse: pred has shape \(4, 1\) and target \(4,\)'):
        mse(Tensor(np.zeros((4, 1))), np.zeros(4))
    with pytest.raises(ValueError, match=r'log on shapes \(2,\): log needs a positive input'):
        Tensor([1.0, -1.0]).log()
    with pytest.raises(ValueError, match=r'div .*the divisor must not be 0'):
        Tensor([1.0]) / Tensor([0.0])
    with pytest.raises(ValueError, match=r'sum: axis 2 is out of range for a tensor of shape \(2, 3\)'):
        Tensor(np.ones((2, 3))).sum(axis=2)
    with pytest.raises(ValueError, match=r'cannot reshape a tensor of shape \(2, 3\).*into shape \(4,\)'):
        Tensor(np.ones((2, 3))).reshape(4)
    with pytest.raises(ValueError, match=r'concatenate: shapes \(2, 3\), \(2, 4\) along axis 0'):
        concatenate([Tensor(np.ones((2, 3))), Tensor(np.ones((2, 4)))])
    with pytest.raises(ValueError, match=r'item\(\) needs a tensor with one element'):
        Tensor([1.0, 2.0]).item()
    with pytest.raises(ValueError, match=r'transpose: axes \(0, 5\) are not a permutation'):
        Tensor(np.ones((2, 3))).transpose(0, 5)
    with pytest.raises(ValueError, match=r'truth value of a tensor of shape \(2,\) is ambiguous'):
        bool(Tensor([1.0, 2.0]))
    assert not Tensor(0.0) and Tensor([3.0])


# --- edge points and small API corners --------------------------------------------------
def test_pow_gradients_at_base_zero_are_the_limits_not_nan():
    x = Tensor([0.0, 1.0], requires_grad=True)
    (x ** 0).sum().backward()
    assert np.array_equal(x.grad, [0.0, 0.0])                 # was [nan, 0]
    x, y = Tensor([0.0, 1.0, 3.0], requires_grad=True), Tensor(2.0, requires_grad=True)
    (x ** y).sum().backward()
    assert np.array_equal(x.grad, [0.0, 2.0, 6.0])
    assert y.grad == pytest.approx(9 * math.log(3))           # 0^2 ln 0 -> 0, 1^2 ln 1 = 0
    x = Tensor(np.float32([0.0, 2.0]), requires_grad=True)
    e = Tensor(np.float32([0.0, 3.0]), requires_grad=True)
    (x ** e).sum().backward()
    assert np.array_equal(x.grad, [0.0, 12.0]) and e.grad == pytest.approx([0.0, 8 * math.log(2)])
    # the partials themselves keep float32 (backward would cast them back anyway)
    a, b = np.float32([0.0, 2.0]), np.float32([0.0, 3.0])
    out = a ** b
    for partial in OPS['pow'].partials:
        assert partial(a, b, out).dtype == np.float32


def test_sigmoid_float32_does_not_underflow_to_zero():
    s = Tensor(np.float32([-20.0, 0.0, 20.0, -100.0])).sigmoid().data
    assert s.dtype == np.float32
    assert s[0] == pytest.approx(1 / (1 + math.exp(20)), rel=1e-6)      # was exactly 0
    assert s[1] == 0.5 and s[2] == pytest.approx(1.0) and s[3] > 0


def test_linear_takes_arrays_for_w_and_b_and_no_bias():
    x = Tensor(np.ones((4, 3)), requires_grad=True)
    w = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    linear(x, w, np.zeros(2)).sum().backward()                # crashed in backward before
    assert np.array_equal(x.grad, np.tile([3.0, 7.0, 11.0], (4, 1)))
    x.zero_grad()
    y = linear(x, w.tolist())
    assert np.array_equal(y.data, np.tile([9.0, 12.0], (4, 1)))
    y.sum().backward()
    assert np.array_equal(x.grad, np.tile([3.0, 7.0, 11.0], (4, 1)))


def test_a_0d_leaf_gradient_stays_an_array_when_it_accumulates():
    x = Tensor(2.0, requires_grad=True)
    (x * x).backward()                                        # two contributions
    assert type(x.grad) is np.ndarray and x.grad.shape == () and x.grad == 4.0
    (x * 3).backward()                                        # a second call accumulates
    assert type(x.grad) is np.ndarray and x.grad == 7.0


def test_iteration():
    assert [t.item() for t in Tensor([1.0, 2.0, 3.0])] == [1.0, 2.0, 3.0]
    with pytest.raises(TypeError, match='iteration over a 0-d tensor.*item'):
        list(Tensor(5.0))                                     # was [] silently


def test_axis_must_be_an_int_or_a_tuple():
    t = Tensor(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r'axis must be an int or a tuple of ints.*axis=\(0, 1\)'):
        t.sum(axis=[0, 1])
    assert t.sum(axis=np.int64(1)).shape == (2,)


def test_linear_without_bias_still_needs_a_matrix():
    with pytest.raises(ValueError, match=r'w must have shape \(nin, nout\), got \(3,\)'):
        linear(Tensor(np.ones((2, 3))), Tensor(np.ones(3), requires_grad=True))


def test_fused_cross_entropy_equals_the_composed_version_and_stays_finite():
    rng = np.random.default_rng(3)
    logits_np, t = rng.standard_normal((6, 4)), np.array([0, 3, 1, 1, 2, 0])
    fused_in = Tensor(logits_np, requires_grad=True)
    composed_in = Tensor(logits_np, requires_grad=True)
    fused = cross_entropy(fused_in, t)
    composed = -(log_softmax(composed_in, axis=1)[np.arange(6), t]).mean()
    assert fused._op == 'cross_entropy' and composed._op != 'cross_entropy'
    assert fused.item() == pytest.approx(composed.item(), rel=1e-12)
    fused.backward()
    composed.backward()
    np.testing.assert_allclose(fused_in.grad, composed_in.grad, rtol=1e-12, atol=1e-15)
    # where softmax underflows to 0, the fused form still gives a finite loss
    big = Tensor(np.array([[1000.0, -1000.0]]), requires_grad=True)
    loss = cross_entropy(big, [1])
    loss.backward()
    assert loss.item() == pytest.approx(2000.0) and np.isfinite(big.grad).all()
