"""Lesson 06 widgets, driven from plain pytest: set a value, read the HTML the callback wrote."""
import re

import numpy as np
import pytest

from autodiff_lite import Tensor, topo_sort
from autodiff_lite import widgets as W


# --- broadcast_report: the rule, against numpy and the engine's own gradients -----------------
@pytest.mark.parametrize('sa, sb, out, a_summed, b_summed', [
    ((3, 1), (4,), (3, 4), (1,), (0,)),
    ((), (2, 3), (2, 3), (0, 1), ()),
    ((2, 1, 4), (3, 1), (2, 3, 4), (1,), (0, 2)),
    ((1,), (1,), (1,), (), ()),
    ((5,), (2, 1, 5), (2, 1, 5), (0, 1), ()),
])
def test_broadcast_report_matches_numpy_and_the_engine(sa, sb, out, a_summed, b_summed):
    rep = W.broadcast_report(sa, sb)
    assert rep['out'] == out == np.broadcast_shapes(sa, sb)
    assert rep['a']['summed'] == a_summed and rep['b']['summed'] == b_summed
    # with grad_out all ones, each entry's gradient is the number of entries it fed
    ta, tb = Tensor(np.ones(sa), requires_grad=True), Tensor(np.ones(sb), requires_grad=True)
    (ta + tb).sum().backward()
    assert np.all(ta.grad == rep['a']['copies']) and np.all(tb.grad == rep['b']['copies'])
    assert ta.grad.shape == sa and tb.grad.shape == sb


def test_broadcast_report_names_the_clash_and_the_fix():
    with pytest.raises(ValueError, match=r'axis -1 has sizes 3 and 4.*Fix'):
        W.broadcast_report((2, 3), (4,))


@pytest.mark.parametrize('text, shape', [('3, 1', (3, 1)), ('(2, 3, 4)', (2, 3, 4)), ('', ()),
                                         ('()', ()), ('[4]', (4,)), ('2x3', (2, 3))])
def test_parse_shape(text, shape):
    assert W.parse_shape(text) == shape


@pytest.mark.parametrize('text, message', [('three', 'not a shape'), ('0, 2', 'size 1 or more'),
                                           ('1,1,1,1,1', '0 to 4 axes'), ('3,x', 'not a shape')])
def test_parse_shape_rejects_bad_text(text, message):
    with pytest.raises(ValueError, match=message):
        W.parse_shape(text)


# --- broadcast_explorer ------------------------------------------------------------------------
def test_explorer_shows_the_table_and_hides_the_answer_until_asked():
    box = W.broadcast_explorer('3, 1', '4')
    assert box.report['out'] == (3, 4)
    assert '<b>out</b> (3, 4)' in box.table.value
    assert box.answer.value == ''                       # no spoiler before a guess
    assert 'color:#c0392b' not in box.table.value       # nor a red mark on the summed axis
    box.reveal.value = True
    assert 'shape <b>(3, 4)</b>' in box.answer.value
    assert 'color:#c0392b; font-weight:bold; padding:0 8px">1<' in box.table.value   # a's stretched axis
    assert 'a.grad = [[4.], [4.], [4.]]' in box.answer.value     # each entry of a fed 4 outputs
    assert 'b.grad = [3., 3., 3., 3.]' in box.answer.value


def test_explorer_explains_a_wrong_guess_axis_by_axis():
    box = W.broadcast_explorer('3, 1', '4')
    box.guess.value = '0'
    assert 'Not quite' in box.verdict.value
    assert 'axis 0: a has size 3 there' in box.verdict.value          # summed an axis it should not
    assert 'axis 1: a has size 1 there and the output 4' in box.verdict.value   # missed the stretched one
    box.guess.value = '1'
    assert 'Right' in box.verdict.value
    box.a.value, box.b.value = '4', '2, 3, 4'                   # a gets two new leading axes
    box.guess.value = '1'
    assert 'axis 0: a has no such axis' in box.verdict.value and 'copied 2 times' in box.verdict.value
    box.guess.value = '0, 1'
    assert 'Right' in box.verdict.value and 'a.grad = [6., 6., 6., 6.]' in box.answer.value


def test_explorer_reports_shapes_that_do_not_broadcast_and_recovers():
    box = W.broadcast_explorer('2, 3', '3')
    box.b.value = '4'
    assert 'ValueError' in box.table.value and 'sizes 3 and 4' in box.table.value
    assert box.report == {} and box.answer.value == ''
    box.b.value = '1, 3'
    assert box.report['out'] == (2, 3) and box.report['b']['summed'] == (0,)
    box.guess.value = 'zero'
    assert 'ValueError' in box.verdict.value and 'e.g. 0, 2' in box.verdict.value


# --- vectorize_explorer ------------------------------------------------------------------------
def test_graph_sizes_grow_for_scalars_and_stay_for_tensors():
    small, big = W.mlp_graph_sizes(2, batch=4), W.mlp_graph_sizes(8, batch=4)
    assert small['tensor_nodes'] == big['tensor_nodes'] == 17
    assert big['scalar_nodes'] > 3 * small['scalar_nodes']
    loss = big['tensor_loss']
    w2 = next(n for n in topo_sort(loss) if n.label == 'W2')
    assert w2.shape == (8, 8) and w2.grad.shape == (8, 8)
    with pytest.raises(ValueError, match='width must be a whole number >= 2'):
        W.mlp_graph_sizes(1)
    for bad in (0, 1, 33, 2.5):
        with pytest.raises(ValueError, match='from 2 to max_width = 32'):
            W.vectorize_explorer(width=bad)


def test_vectorize_explorer_slider_redraws_with_new_shapes():
    box = W.vectorize_explorer(width=3, batch=4)
    first = box.readout.value
    counts = [int(n.replace(',', '')) for n in re.findall(r'<b>([\d,]+)</b>', first)]
    assert counts[1] == 17 and counts[0] == W.mlp_graph_sizes(3, batch=4)['scalar_nodes']
    assert 'W2 [3x3]' in box.output.value or '[3x3]' in box.output.value
    box.slider.value = 5
    assert box.readout.value != first and '2-5-5-1' in box.readout.value
    assert '[5x5]' in box.output.value


# --- matmul_entry_explorer ---------------------------------------------------------------------
X1 = np.array([[1.0, 2.0, 0.0], [-1.0, 3.0, 1.0]])
G1 = np.array([[1.0, 0.5], [-2.0, 1.0]])


def test_matmul_entry_terms_sum_to_the_entry_of_xt_g():
    rng = np.random.default_rng(0)
    X, G = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    for d in range(3):
        for m in range(2):
            terms, total = W.matmul_entry_terms(X, G, d, m)
            assert [n for n, _, _ in terms] == [0, 1, 2, 3]
            assert total == pytest.approx((X.T @ G)[d, m])
    with pytest.raises(ValueError, match='same N rows'):
        W.matmul_entry_terms(X, G[:3], 0, 0)
    with pytest.raises(ValueError, match=r'outside dL/dW, shape \(3, 2\)'):
        W.matmul_entry_terms(X, G, 3, 0)


def test_matmul_entry_explorer_sliders_rewrite_the_sum_and_the_picture():
    box = W.matmul_entry_explorer(X1, G1, d=0, m=1)
    assert box.readout.value.endswith('(1)·(0.5) + (-1)·(1) = -0.5')      # 0.5 - 1, by hand
    first = box.plot.value
    assert first[:4] == b'\x89PNG'
    box.d.value = 2
    assert box.readout.value.endswith('(0)·(0.5) + (1)·(1) = 1')
    assert box.plot.value != first
    assert (box.d.max, box.m.max) == (2, 1)
