"""autodiff_lite.memory: what backward reads (from the tables), and the lesson's chain, counted by hand."""
import math

import numpy as np
import pytest

from autodiff_lite import Tensor, Value
from autodiff_lite import memory as M
from autodiff_lite.checkpoint import live_nodes, saved_bytes
from autodiff_lite.ops import OPS, define_op


# --- what a row's backward reads ---------------------------------------------------------------
@pytest.mark.parametrize('op, expected', [
    ('add', ()), ('sub', ()), ('neg', ()),          # partials are constants: nothing kept
    ('mul', ('a', 'b')),                              # d(ab)/da = b, d(ab)/db = a
    ('div', ('b', 'out')),                            # 1/b and -out/b: a itself is not needed
    ('exp', ('out',)), ('tanh', ('out',)), ('sigmoid', ('out',)), ('sqrt', ('out',)),
    ('sin', ('a',)), ('cos', ('a',)), ('log', ('a',)), ('relu', ('a',)),
    ('matmul', ('a', 'b')),                           # tensor rules: dA = g Bᵀ, dB = Aᵀ g
    ('softmax', ('out',)),
    ('reshape', ()), ('transpose', ()),               # only the shape, never the numbers
])
def test_reads_the_partials_of_each_row(op, expected):
    assert M.reads(op) == expected


def test_reads_a_row_defined_at_run_time():
    define_op('cube_l08', lambda a: a ** 3, lambda a, out: 3.0 * a * a)
    define_op('twice_l08', lambda a: 2 * a, lambda a, out: 2.0)
    define_op('hyp_l08', lambda a, b: (a * a + b * b) ** 0.5,
              lambda a, b, out: a / out, lambda a, b, out: b / out)
    try:
        assert M.reads('cube_l08') == ('a',)
        assert M.reads('twice_l08') == ()
        assert M.reads('hyp_l08') == ('a', 'b', 'out')
    finally:
        for name in ('cube_l08', 'twice_l08', 'hyp_l08'):
            OPS.pop(name)


def test_reads_table_lists_every_scalar_row_but_the_variadic_ones():
    table = {op: (arity, what) for op, arity, what in M.reads_table()}
    assert table['mul'] == (2, ('a', 'b')) and table['exp'] == (1, ('out',))
    assert 'sum' not in table and 'dot' not in table
    assert len(table) == sum(1 for row in OPS.values() if not row.variadic)


def test_reads_says_what_is_wrong():
    with pytest.raises(KeyError, match="no row of that name"):
        M.reads('mull')
    with pytest.raises(ValueError, match='variadic'):
        M.reads('dot')
    with pytest.raises(TypeError, match='name of a row'):
        M.reads(OPS['mul'])


# --- bytes a tensor graph keeps and needs ------------------------------------------------------
def test_needed_bytes_by_hand_tanh_of_a_matmul():
    X = Tensor(np.ones((4, 3)), requires_grad=True)
    W = Tensor(np.ones((3, 2)), requires_grad=True)
    s = (X @ W).tanh().sum()
    # the engine keeps Z = X @ W (tanh's input) and H = tanh Z (sum's input): 2 x 4·2 floats
    assert saved_bytes(s) == 2 * 8 * 8
    # backward reads X and W (leaves, there anyway) and H (tanh's output) only
    assert M.needed_bytes(s) == 8 * 8


def test_needed_bytes_by_hand_exp_of_a_product():
    X = Tensor(np.ones((4, 3)), requires_grad=True)
    e = (X * 2.0).exp().sum()
    assert saved_bytes(e) == 2 * 12 * 8           # 2X (exp's input) and e^(2X) (sum's input)
    assert M.needed_bytes(e) == 12 * 8            # exp reads its output; mul reads X, a leaf


def test_needed_bytes_of_a_chain_of_adds_is_zero():
    X = Tensor(np.ones(5), requires_grad=True)
    y = ((X + 1.0) + 2.0) - 3.0
    assert saved_bytes(y) == 2 * 5 * 8 and M.needed_bytes(y) == 0


# --- the lesson's chain -------------------------------------------------------------------------
def test_segment_sizes_are_even_longer_first():
    assert M.segment_sizes(10, 4) == [3, 3, 2, 2]
    assert M.segment_sizes(9, 3) == [3, 3, 3]
    assert M.segment_sizes(5, 5) == [1, 1, 1, 1, 1]
    with pytest.raises(ValueError, match='k <= n'):
        M.segment_sizes(3, 5)
    with pytest.raises(ValueError, match='whole number'):
        M.segment_sizes(10, 0)
    with pytest.raises(ValueError, match='whole number'):
        M.segment_sizes(10.0, 2)


def chain_by_hand(x, n):
    """(y, dy/dx) of v -> sin(1.01 v), n times, in plain floats."""
    g = 1.0
    for _ in range(n):
        g *= 1.01 * math.cos(1.01 * x)
        x = math.sin(1.01 * x)
    return x, g


def test_plain_chain_keeps_the_leaf_and_two_nodes_per_step():
    y = M.chain(Value(0.5), 5)
    assert live_nodes(y) == 11
    r = M.measure_chain(10, None, x=0.5, repeats=1)
    assert (r['nodes_kept'], r['largest_segment'], r['peak_nodes']) == (21, 0, 21)
    assert r['peak_nodes'] == M.peak_model(10)
    y, g = chain_by_hand(0.5, 10)
    assert r['y'] == pytest.approx(y, rel=1e-14) and r['grad'] == pytest.approx(g, rel=1e-13)
    assert r['peak_bytes'] > 0 and r['seconds'] >= 0


def test_checkpointed_chain_keeps_k_nodes_and_rebuilds_one_segment_at_a_time():
    r = M.measure_chain(10, 4, x=0.5, repeats=1)
    assert r['nodes_kept'] == 1 + 4                # the leaf and one node per segment
    assert r['largest_segment'] == 1 + 2 * 3       # a fresh start and 3 steps of 2 ops
    assert r['peak_nodes'] == 12 == M.peak_model(10, 4)
    y, g = chain_by_hand(0.5, 10)
    assert r['y'] == pytest.approx(y, rel=1e-14) and r['grad'] == pytest.approx(g, rel=1e-13)


def test_peak_model_matches_the_count_for_many_k():
    for k in (1, 2, 3, 7, 20, 40):
        r = M.measure_chain(40, k, repeats=1)
        assert r['peak_nodes'] == M.peak_model(40, k), k


def test_best_k_of_400_steps_by_hand():
    # k + 2 + 2·ceil(400 / k): 59 at k = 25 and k = 27 (the first is taken), 60 at 24, 26 and 28
    assert [M.peak_model(400, k) for k in (24, 25, 26, 27, 28)] == [60, 59, 60, 59, 60]
    assert M.best_k(400) == 25
    assert M.peak_model(400) == 801
