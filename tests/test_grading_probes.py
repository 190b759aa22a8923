"""The test-cell format: probes, the plain-data wire, and checkers on what comes back."""
import json
import math

import numpy as np
import pytest

from autodiff_lite import Dual, Tensor, Value
from autodiff_lite.grading import (CheckFailure, check_close, check_grads, check_raises, check_topo_order,
                                   hidden_rng, misconception, probe, probe_seconds, reference)
from autodiff_lite.grading import probes, wire


def roundtrip(value):
    """What a probe returning `value` gives its test cell (through JSON, as from a sandbox)."""
    payload = json.loads(wire.dumps(wire.pack_result(value, [])))
    return wire.unpack_result(payload, [])


def test_plain_data_keeps_types_apart():
    got = roundtrip([1, 1.0, True, None, 'a', (1, 2), [1, 2], {3: 'x', (1, 'a'): 2.5, 'k': [1]},
                     {1, 2}, frozenset({3})])
    assert got == [1, 1.0, True, None, 'a', (1, 2), [1, 2], {3: 'x', (1, 'a'): 2.5, 'k': [1]}, {1, 2},
                   frozenset({3})]
    assert [type(v) for v in got[:5]] == [int, float, bool, type(None), str]
    assert type(got[5]) is tuple and type(got[6]) is list and type(got[9]) is frozenset


def test_special_floats_and_numpy():
    nan, inf, ninf = roundtrip([math.nan, math.inf, -math.inf])
    assert math.isnan(nan) and inf == math.inf and ninf == -math.inf
    arr = roundtrip(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert arr.dtype == np.float32 and arr.shape == (2, 3) and arr[1, 2] == 5.0
    ints = roundtrip(np.array([[1, 2]], dtype=np.int64))
    assert ints.dtype == np.int64 and ints.tolist() == [[1, 2]]
    scalar = roundtrip(np.float32(2.5))
    assert type(scalar) is np.float32 and scalar == 2.5
    assert roundtrip(np.array([np.nan]))[0] != roundtrip(np.array([np.nan]))[0]


def test_an_exception_crosses_as_its_builtin_type_and_message():
    class Custom(ValueError):
        pass

    payload = json.loads(json.dumps(wire.pack_error(Custom("unknown op 'pow'"))))
    with pytest.raises(ValueError, match="unknown op 'pow'") as info:
        wire.unpack_result(payload, [])
    assert info.value.student_type == 'Custom'
    payload = wire.pack_error(NotImplementedError('Exercise 1.1: write it'))
    with pytest.raises(NotImplementedError):
        wire.unpack_result(payload, [])


def test_a_graph_crosses_as_nodes_in_order_with_a_shared_leaf_once():
    a = Value(2.0, label='a')
    f = (a * a + 3.0) * a
    f.backward()
    payload = json.loads(wire.dumps(wire.pack_result(f, [])))
    nodes = payload['nodes']
    assert [n['op'] for n in nodes] == ['', 'mul', 'add', 'mul']
    assert nodes[1]['prev'] == [{'$node': 0}, {'$node': 0}]          # a*a: one leaf, two edges
    assert nodes[2]['prev'] == [{'$node': 1}, 3.0]                     # a constant stays a number
    view = wire.unpack_result(payload, [])
    assert view.data == f.data and view._prev[1] is view._prev[0]._prev[0]._prev[0]
    assert view._prev[1].grad == a.grad == 3 * 2.0 ** 2 + 3.0
    check_close(view, f.data)                                          # checkers read .data


def test_a_10001_node_chain_fits_and_keeps_its_order():
    x = Value(0.5, label='x0')
    c = x
    for _ in range(10_000):
        c = c + 1.0
    text = wire.dumps(wire.pack_result(c, []))
    assert len(text) < wire.MAX_BYTES
    view = wire.unpack_result(json.loads(text), [])
    n, node = 0, view
    while node._prev:
        node, n = node._prev[0], n + 1
    assert n == 10_000 and node.label == 'x0'


def test_a_result_that_names_an_argument_node_gets_the_callers_node():
    x, w = Value(2.0, label='x'), Value(-3.0, label='w')
    y = x * w + 1.0
    payload, originals = wire.pack_args([y], {})
    args, kwargs, copies = wire.unpack_args(json.loads(json.dumps(payload)))
    root = args[0]
    assert isinstance(root, Value) and root is not y and root.data == y.data
    order = [root._prev[0]._prev[0], root._prev[0]._prev[1], root._prev[0], root]
    back = wire.unpack_result(json.loads(wire.dumps(wire.pack_result(order, copies))), originals)
    assert back == [x, w, y._prev[0], y]                               # the caller's own objects
    check_topo_order(back, y)


def test_arguments_that_are_not_plain_data_are_an_authoring_error():
    @probe
    def run(f):
        return f(1.0)

    with pytest.raises(probes.ProbeError, match='plain data'):
        run(math.sin)


def test_a_probe_in_a_students_kernel_runs_on_copies_and_returns_plain_data():
    calls = []

    def student_fn(v):                       # "the student's function"
        calls.append(v)
        v.data = 99.0                        # a copy: the caller's node is untouched
        return Dual(1.0, 2.0), np.float64(3.0)

    @probe
    def ask(v):
        return student_fn(v)

    v = Value(1.5)
    dual, number = ask(v)
    assert v.data == 1.5 and calls[0] is not v
    assert isinstance(dual, wire.DualView) and (dual.primal, dual.tangent) == (1.0, 2.0)
    assert probe_seconds() is not None and probe_seconds() >= 0
    with pytest.raises(CheckFailure, match='use .primal'):
        check_close(dual, 1.0)


def test_the_students_error_shows_as_it_is_in_a_self_check():
    @probe
    def ask():
        raise NotImplementedError('Exercise 9.9: write it')

    with pytest.raises(NotImplementedError, match='Exercise 9.9'):
        ask()


def test_a_misconception_hint_carries_its_id_into_the_failure():
    @reference
    def slips(x):
        return {-2 * x: misconception('sign-flip-custom', 'the sign of the slope')}

    with pytest.raises(CheckFailure) as info:
        check_close(-4.0, 4.0, name='slope', mistakes=slips(2.0))
    assert info.value.misconception == 'sign-flip-custom' and 'the sign of the slope' in str(info.value)
    with pytest.raises(CheckFailure) as info:
        check_grads({'a': 1.0}, {'a': 2.0})
    assert info.value.misconception == 'assign-not-accumulate'
    with pytest.raises(CheckFailure) as info:
        check_close(-3.0, 3.0)
    assert info.value.misconception == 'sign-flip'


def test_check_raises_works_on_a_probe_that_raised():
    @probe
    def ask():
        raise ValueError("'w' is not defined")

    err = check_raises(ask, ValueError, match="'w'")
    assert "'w'" in str(err)


def test_hidden_rng_is_seeded_per_run_and_per_cell(monkeypatch):
    first = hidden_rng().uniform(size=3).tolist()
    assert hidden_rng().uniform(size=3).tolist() == first
    monkeypatch.setattr(probes._State, 'seed', 12345)
    assert hidden_rng().uniform(size=3).tolist() != first
    monkeypatch.setattr(probes._State, 'cell', 'ex1-1-tests')
    other = hidden_rng().uniform(size=3).tolist()
    monkeypatch.setattr(probes._State, 'cell', 'ex1-2-tests')
    assert hidden_rng().uniform(size=3).tolist() != other


@pytest.mark.parametrize('text', ['{"value": {"$node": 5}, "nodes": [], "base": 0}',
                                  '{"value": {"$array": {"dtype": "object", "shape": [1], "data": [1]}}}',
                                  '{"value": {"$array": {"dtype": "float64", "shape": [3], "data": [1]}}}',
                                  '{"value": {"$float": "1e999"}}', '{"value": {"evil": 1}}',
                                  '[' * 100000 + ']' * 100000])
def test_a_malformed_result_is_a_wire_error_never_a_crash(text):
    with pytest.raises(wire.WireError):
        wire.unpack_result(wire.loads(text), [])


def test_tensor_leaf_arguments_cross_and_come_back_as_arrays():
    t = Tensor(np.ones((2, 2)), requires_grad=True)
    payload, originals = wire.pack_args([t], {})
    (copy,), _, _ = wire.unpack_args(json.loads(json.dumps(payload)))
    assert isinstance(copy, Tensor) and copy is not t and np.array_equal(copy.data, t.data)
