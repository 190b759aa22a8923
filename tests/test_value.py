"""Value: the seed examples, the cases where teaching engines break, and bad input."""
import gc
import os
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from autodiff_lite import Dual, Value, no_grad
from autodiff_lite.graph import topo_sort
from autodiff_lite.modes import enable_grad
from autodiff_lite.gradcheck import central_difference


# --- the seed examples, with their hand-derived numbers ---------------------------------------
def test_seed_sum_times_b():
    x, w, b = Value(2.0, label='x'), Value(1.0, label='w'), Value(3.0, label='b')
    y = (x + w) * b
    y.backward()
    assert y.data == 9.0
    assert (x.grad, w.grad, b.grad) == (3.0, 3.0, 3.0)


def test_seed_linear():
    x, w, b = Value(2.0), Value(-3.0), Value(10.0)
    y = x * w + b
    y.backward()
    assert y.data == 4.0
    assert x.grad == -3.0 and w.grad == 2.0 and b.grad == 1.0


def test_seed_product_plus_quotient():
    x, y = Value(5.0), Value(2.0)
    z = x * y + x / y
    z.backward()
    assert z.data == 12.5
    assert x.grad == pytest.approx(2.5)       # y + 1/y
    assert y.grad == pytest.approx(3.75)      # x - x/y²


def test_seed_neuron_tanh_squared_error():
    x, w, b = Value(2.0), Value(1.0), Value(0.0)
    y_hat = (w * x + b).tanh()
    J = 0.5 * (y_hat - 1.0) ** 2
    J.backward()
    # dJ/dw = (ŷ - y) · (1 - tanh²(wx + b)) · x
    t = math.tanh(2.0)
    assert w.grad == pytest.approx((t - 1) * (1 - t * t) * 2)
    assert round(w.grad, 7) == -0.0050830
    assert round((t - 1) * t * t * 2, 5) == -0.06686       # the blog's tanh' = tanh² number


@pytest.mark.parametrize('a,x,b', [(2.0, 3.0, -1.0), (-0.5, 4.0, 2.0)])
def test_seed_square_of_affine(a, x, b):
    A, X, B = Value(a), Value(x), Value(b)
    L = (A * X + B) ** 2
    L.backward()
    r = a * x + b
    assert A.grad == pytest.approx(2 * r * x)
    assert X.grad == pytest.approx(2 * r * a)
    assert B.grad == pytest.approx(2 * r)


# --- reuse, fan-out, depth, repeated backward -------------------------------------------------
def test_a_plus_a_has_two_edges_and_gradient_two():
    a = Value(3.0)
    y = a + a
    assert y._prev == (a, a)
    y.backward()
    assert a.grad == 2.0


def test_a_times_a():
    a = Value(-3.0)
    (a * a).backward()
    assert a.grad == -6.0


def test_value_feeding_three_branches():
    x = Value(0.5)
    y = x.sin() + x * x + x.exp()
    y.backward()
    assert x.grad == pytest.approx(math.cos(0.5) + 2 * 0.5 + math.exp(0.5))


def test_repeated_backward_accumulates_leaves_only():
    x = Value(1.0)
    z = (x * 2) * 3
    z.backward()
    assert x.grad == 6.0
    z.backward()
    assert x.grad == 12.0            # micrograd gives 18: its interior x*2 keeps a stale grad
    x.zero_grad()
    z.backward()
    assert x.grad == 6.0


def test_million_step_chain_backward_has_no_recursion_error():
    x = Value(1.0)
    y = x
    for _ in range(1_000_000):
        y = y * 1.0000001
    y.backward()
    assert x.grad == pytest.approx(1.0000001 ** 1_000_000, rel=1e-9)


def test_topo_sort_puts_inputs_first_and_each_node_once():
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + a
    e = d * c
    order = topo_sort(e)
    assert len(order) == len(set(order)) == 5
    pos = {n: i for i, n in enumerate(order)}
    for n in order:
        for p in n._prev:
            assert pos[p] < pos[n]


def test_numbers_on_either_side():
    x = Value(2.0)
    for f, df in [(lambda v: 2 + v, 1.0), (lambda v: 2 - v, -1.0), (lambda v: 2 / v, -0.5),
                  (lambda v: 2 ** v, 4 * math.log(2)), (lambda v: v - 2, 1.0), (lambda v: v ** 3, 12.0)]:
        x.zero_grad()
        f(x).backward()
        assert x.grad == pytest.approx(df)


def test_constants_stay_in_the_graph_as_numbers():
    x = Value(2.0)
    y = 3 * x
    assert y._prev == (3.0, x)
    y.backward()
    assert x.grad == 3.0


# --- no_grad, detach, second order ---------------------------------------------------------------
def test_no_grad_builds_no_graph():
    x = Value(2.0)
    with no_grad():
        y = x * x + 1
        with enable_grad():
            z = x * x
    assert y._prev == () and not y.requires_grad and y.data == 5.0
    assert z._prev == (x, x)
    w = x * x
    assert w._prev == (x, x)


def test_detach_stops_gradients():
    x = Value(3.0)
    y = x.detach() * x
    y.backward()
    assert x.grad == 3.0


def test_second_derivative_with_create_graph():
    x = Value(0.3)
    y = x.sin() * x
    y.backward(create_graph=True)
    g = x.grad
    assert g.data == pytest.approx(math.cos(0.3) * 0.3 + math.sin(0.3))
    x.grad = 0.0
    g.backward()
    assert x.grad == pytest.approx(-math.sin(0.3) * 0.3 + 2 * math.cos(0.3))


def test_nodes_are_small_and_make_no_reference_cycles():
    x = Value(1.0)
    assert not hasattr(x, '__dict__')
    gc.collect()
    gc.disable()
    try:
        y = x
        for _ in range(1000):
            y = (y * 1.01).tanh() + x
        y.backward()
        del y
        assert gc.collect() == 0       # nothing was left for the cycle collector
    finally:
        gc.enable()


# --- bad input: clear errors, never a silent wrong number ---------------------------------------
@pytest.mark.parametrize('make,exc,pattern', [
    (lambda: Value('abc'), TypeError, r"real number, got 'abc' \(str\).*float"),
    (lambda: Value(None), TypeError, r'real number, got None'),
    (lambda: Value(2) + 'x', TypeError, r"'add' with a Value needs a real number, got 'x'"),
    (lambda: 'x' * Value(2), TypeError, r"'mul' with a Value"),
    (lambda: Value(-1.0, label='x').log(), ValueError, r"log\(x = -1\).*positive"),
    (lambda: Value(0.0).log(), ValueError, r'log needs a positive input'),
    (lambda: Value(-4.0).sqrt(), ValueError, r'sqrt needs a non-negative'),
    (lambda: Value(-8.0) ** Value(0.5), ValueError, r'negative base needs an integer exponent'),
    (lambda: Value(1.0, label='num') / Value(0.0, label='den'), ValueError, r"div\(num = 1, den = 0\).*divisor"),
    (lambda: Value(1.0).backward('a'), TypeError, r"backward\(grad=...\) needs a real number, got 'a'"),
])
def test_bad_input_gets_a_clear_error(make, exc, pattern):
    with pytest.raises(exc, match=pattern):
        make()


def test_integer_power_of_negative_base_is_fine():
    x = Value(-2.0)
    y = x ** 3
    y.backward()
    assert y.data == -8.0 and x.grad == 12.0


# --- property tests: random expression trees that reuse sub-expressions ---------------------------
UNARY = ['tanh', 'sin', 'cos', 'sigmoid']
BINARY = ['add', 'sub', 'mul']

program = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(UNARY), st.integers(0, 100)),
        st.tuples(st.sampled_from(BINARY), st.integers(0, 100), st.integers(0, 100))),
    min_size=1, max_size=25)


def _run(prog, inputs):
    pool = list(inputs)
    for instr in prog:
        name, *idx = instr
        args = [pool[i % len(pool)] for i in idx]      # indices reuse earlier nodes freely
        if name in UNARY:
            pool.append(getattr(args[0], name)())
        else:
            a, b = args
            pool.append(a + b if name == 'add' else a - b if name == 'sub' else a * b)
    return pool[-1] + pool[len(pool) // 2]


@settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", 150)), deadline=None)
@given(prog=program, xs=st.lists(st.floats(-2, 2), min_size=1, max_size=3))
def test_random_graphs_reverse_equals_forward_and_differences(prog, xs):
    vals = [Value(x) for x in xs]
    out = _run(prog, vals)
    # products of products can overflow to inf (inf * 0 = nan): keep to numbers that compare
    assume(abs(out.data) < 1e6)
    out.backward()
    assume(all(abs(v.grad) < 1e6 for v in vals))
    for i in range(len(xs)):
        duals = [Dual(x, 1.0 if k == i else 0.0) for k, x in enumerate(xs)]
        d = _run(prog, duals)
        assert d.primal == pytest.approx(out.data, rel=1e-12, abs=1e-12)
        assert vals[i].grad == pytest.approx(d.tangent, rel=1e-9, abs=1e-9)
        fd = central_difference(lambda *v: _run(prog, [Value(a) for a in v]).data, xs, i)
        assert vals[i].grad == pytest.approx(fd, rel=1e-4, abs=1e-5)


def test_backward_on_a_value_without_graph_raises_instead_of_leaving_zeros():
    from autodiff_lite import no_grad
    x = Value(3.0)
    with no_grad():
        y = x * x
    with pytest.raises(RuntimeError, match='does not require grad and has no graph.*no_grad'):
        y.backward()
    assert x.grad == 0.0
    with pytest.raises(RuntimeError, match='no graph'):
        (Value(2.0, requires_grad=False) * 3).backward()


def test_repr_after_create_graph_shows_the_gradient_number():
    x = Value(2.0, label='x')
    (x * x).backward(create_graph=True)
    assert isinstance(x.grad, Value)
    assert repr(x) == "Value(data=2, grad=4, label='x')"


def test_sigmoid_keeps_precision_for_very_negative_inputs():
    # 1 / (1 + e^40) = 4.248354255291589e-18; the old 0.5 + 0.5 tanh(a/2) gave exactly 0
    s = Value(-40.0).sigmoid()
    assert s.data == pytest.approx(math.exp(-40) / (1 + math.exp(-40)), rel=1e-14)
    assert s.log().data == pytest.approx(-40.0, rel=1e-12)
    assert Value(40.0).sigmoid().data == pytest.approx(1.0)
    assert Value(-800.0).sigmoid().data == 0.0 and Value(800.0).sigmoid().data == 1.0   # no overflow
    x = Value(-40.0)
    x.sigmoid().backward()
    assert x.grad == pytest.approx(math.exp(-40), rel=1e-12)


def test_no_grad_works_as_a_bare_decorator_too():
    from autodiff_lite import enable_grad, no_grad

    @no_grad
    def double(x):
        return x * 2

    class Model:
        @no_grad
        def triple(self, x):                     # still a method: self is bound
            return x * 3

    @enable_grad
    def square(x):
        return x * x

    assert double.__name__ == 'double' and not double(Value(1.0)).requires_grad
    assert Model().triple(Value(1.0)).data == 3.0 and not Model().triple(Value(1.0)).requires_grad
    with no_grad():
        assert square(Value(2.0)).requires_grad
    with pytest.raises(TypeError, match='takes no arguments, or a function'):
        no_grad(3)


def test_value_and_tensor_do_not_mix_and_say_so():
    from autodiff_lite import Tensor
    with pytest.raises(TypeError, match='a Value and a Tensor do not mix.*Tensor\\(v.data\\)'):
        Value(1.0) + Tensor([1.0, 2.0])


def test_value_of_a_value_keeps_the_plain_message():
    with pytest.raises(TypeError, match=r'needs a real number, got Value'):
        Value(Value(2.0))
