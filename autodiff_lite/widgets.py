"""Interactive helpers for the lessons (ipywidgets).

Each function returns one container widget (a VBox) whose parts are
attributes (`.sliders`, `.output`, ...). Callbacks write widget state (an
HTML or Image value), never only print, so a test can set `slider.value`
and read what changed, with no kernel and no browser.

    graph_explorer(lambda x, w: (x * w).tanh(), x=(-2, 2, 1), w=(-2, 2, 0.5))
"""
import html
import io
import math
import numbers
import re
import time
import unicodedata

import ipywidgets as widgets
import numpy as np

from .course import best_time
from .errors import whole
from .functional import jacobian
from .gradcheck import central_difference
from .ops import tanh
from .value import Value
from .viz import INSTALL_HINT, WIDE_PT, width_pt, backward_steps, draw_graph

__all__ = ['graph_explorer', 'backward_stepper', 'finite_difference_lab',
           'training_dashboard', 'mode_race', 'broadcast_explorer', 'broadcast_report',
           'parse_shape', 'mlp_graph_sizes', 'vectorize_explorer', 'matmul_entry_terms',
           'matmul_entry_explorer', 'layer_grad_norms', 'gradient_flow']


# --- shared pieces ------------------------------------------------------------------
def _panel(children, **parts):
    """A VBox with its parts reachable as attributes (for tests and the browser check)."""
    box = widgets.VBox(children)
    for name, part in parts.items():
        setattr(box, name, part)
    return box


def _graph_html(view):
    """HTML for a GraphView: the inline SVG, or the DOT text and the install hint."""
    try:
        svg = view.svg()
    except Exception:
        return (f'<pre style="font-size:11px">{html.escape(view.source)}</pre>'
                f'<p><i>{html.escape(INSTALL_HINT)}</i></p>')
    svg = re.sub(r'<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<!--.*?-->', '', svg, flags=re.S)
    if width_pt(svg) <= WIDE_PT:
        # fit the cell's width (the viewBox keeps its proportions)
        svg = svg.replace('<svg ', '<svg style="max-width:100%; height:auto" ', 1)
    # wider than a cell even laid out top to bottom: full size, readable; the box scrolls
    return f'<div class="adl-graph" style="overflow:auto; max-width:100%">{svg.strip()}</div>'


def _error_html(err):
    return (f'<span style="color:#c0392b"><b>{type(err).__name__}</b>: '
            f'{html.escape(str(err))}</span>')


DPI = 80


def _png(fig):
    """A matplotlib Figure as PNG bytes (for an ipywidgets.Image)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=DPI)
    return buf.getvalue()


def _image(width_inches):
    """An Image widget shown at the figure's own pixel size (not stretched to the cell)."""
    return widgets.Image(format='png', width=int(width_inches * DPI))


def _figure(width=5.5, height=3.4):
    # A bare Figure (not pyplot): no global state, nothing shown twice in a notebook.
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), layout='tight')


def _real(x, what):
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x):
        raise ValueError(f'{what} must be a finite number, got {x!r}')
    return float(x)


def _check_range(name, rng):
    """(min, max, initial) with min < max and min <= initial <= max, else a ValueError."""
    fix = f'give {name}=(min, max, initial) with min < max, e.g. {name}=(-2.0, 2.0, 1.0)'
    if not isinstance(rng, (tuple, list)) or len(rng) != 3:
        raise ValueError(f'range for {name!r} must be (min, max, initial), got {rng!r}: {fix}')
    lo, hi, init = (_real(v, f'range for {name!r}: {fix}; each value') for v in rng)
    if lo > hi:
        raise ValueError(f'range for {name!r} is reversed: min {lo:g} > max {hi:g}: {fix}')
    if lo == hi:
        raise ValueError(f'range for {name!r} is empty: min = max = {lo:g}: {fix}')
    if not lo <= init <= hi:
        raise ValueError(f'initial value {init:g} for {name!r} lies outside [{lo:g}, {hi:g}]: {fix}')
    return lo, hi, init


# --- graph explorer ---------------------------------------------------------------------
def graph_explorer(f, *, show_grad=True, edge_grads=False, **ranges):
    """One slider per input; each move recomputes f, its gradients, and redraws the graph.

    `f` receives `Value`s as keyword arguments (labelled with their names)
    and returns the output `Value`; each range is (min, max, initial).
    """
    if not callable(f):
        raise TypeError(f'graph_explorer needs a function first, got {type(f).__name__}')
    if not ranges:
        raise ValueError('graph_explorer needs one range per input of f, '
                         'e.g. graph_explorer(f, x=(-2, 2, 1), w=(-2, 2, 0.5))')
    checked = {name: _check_range(name, rng) for name, rng in ranges.items()}
    sliders = {name: widgets.FloatSlider(value=init, min=lo, max=hi, step=(hi - lo) / 100,
                                         description=name, continuous_update=False,
                                         readout_format='.3g')
               for name, (lo, hi, init) in checked.items()}
    readout, output = widgets.HTML(), widgets.HTML()

    def compute():
        inputs = {name: Value(s.value, label=name) for name, s in sliders.items()}
        out = f(**inputs)
        if not isinstance(out, Value):
            raise TypeError(f'f must return a Value built from its inputs, got '
                            f'{type(out).__name__} {out!r:.40}')
        if not out.label:
            out.label = 'f'
        out.backward()
        grads = ', '.join(f'∂f/∂{name} = {v.grad:.4g}' for name, v in inputs.items())
        readout.value = (f'<span style="color:#1f5fbf">f = {out.data:.6g}</span> &nbsp; '
                         f'<span style="color:#c0392b">{html.escape(grads)}</span>')
        output.value = _graph_html(draw_graph(out, show_grad=show_grad, edge_grads=edge_grads))

    def on_change(change):
        try:
            compute()
        except Exception as err:        # say what went wrong in the widget, keep the last graph
            readout.value = _error_html(err)

    compute()                           # a broken f fails here, loudly, before any slider moves
    for s in sliders.values():
        s.observe(on_change, names='value')
    box = _panel([*sliders.values(), readout, output],
                 sliders=sliders, readout=readout, output=output)
    return box


def _name(node):
    """How a caption calls a node: its label, else its op, else 'a leaf'."""
    return node.label or (f'({node._op})' if node._op else 'a leaf')


# --- backward, step by step ---------------------------------------------------------------
def backward_stepper(root, show_grad=True, interval=1200):
    """A step slider and a play button that walk `root.backward()` one node at a time.

    Step 0 is the seed (d root/d root = 1); step k shows the gradients after
    the k-th node (in reverse topological order) has pushed its gradient to its inputs.
    """
    steps = backward_steps(root)
    start = {n: 0.0 for n in steps[-1].grads}
    start[root] = 1.0
    slider = widgets.IntSlider(value=0, min=0, max=len(steps), description='step')
    play = widgets.Play(value=0, min=0, max=len(steps), interval=interval, description='play')
    widgets.link((play, 'value'), (slider, 'value'))
    caption, output = widgets.HTML(), widgets.HTML()

    def show(change=None):
        k = slider.value
        if k == 0:
            grads, node = start, root
            caption.value = (f'Step 0 of {len(steps)}: seed d{html.escape(_name(root))}/'
                             f'd{html.escape(_name(root))} = 1; nothing pushed yet.')
        else:
            step = steps[k - 1]
            grads, node = step.grads, step.node
            pushed = '; '.join(f'{html.escape(_name(p))}.grad += {amount:.4g}' for p, amount in step.pushed)
            caption.value = (f'Step {k} of {len(steps)}: <b>{html.escape(_name(node))}</b> '
                             f'(grad {grads[node]:.4g}) '
                             + (f'pushes to its inputs: {pushed}' if pushed else 'is a leaf: nothing to push'))
        output.value = _graph_html(draw_graph(root, show_grad=show_grad, grads=grads, highlight=node))

    show()
    slider.observe(show, names='value')
    return _panel([widgets.HBox([play, slider]), caption, output],
                  slider=slider, play=play, caption=caption, output=output, steps=steps)


# --- finite differences ---------------------------------------------------------------------
def _differences(f, x0, h, dtype):
    """Forward and central differences of f at x0 with step h, computed in `dtype`."""
    x, h = dtype(x0), dtype(h)
    fx = lambda v: dtype(f(v))
    try:
        forward = (fx(x + h) - fx(x)) / h
        central = central_difference(fx, [x], 0, h)
    except (ArithmeticError, ValueError):
        return math.nan, math.nan
    return float(forward), float(central)


def finite_difference_lab(f, df, x0, h_range=(1e-16, 1.0)):
    """A log slider for h and the error of forward and central differences against h.

    forward (f(x+h) - f(x))/h has truncation error ~ h f''/2, central
    (f(x+h) - f(x-h))/2h ~ h² f'''/6; both suffer round-off ~ eps/h as h
    shrinks: the U-curve. float32 rounds inputs and outputs to single precision.
    """
    if not callable(f) or not callable(df):
        raise TypeError('finite_difference_lab(f, df, x0) needs f and its exact derivative df '
                        'as functions of a float, e.g. finite_difference_lab(math.sin, math.cos, 1.0)')
    x0 = _real(x0, 'x0')
    if not isinstance(h_range, (tuple, list)) or len(h_range) != 2:
        raise ValueError(f'h_range must be (smallest h, largest h), got {h_range!r}')
    hmin, hmax = (_real(v, 'h_range') for v in h_range)
    if not 0 < hmin < hmax:
        raise ValueError(f'h_range={h_range!r} is empty or reversed: give 0 < smallest < largest, '
                         f'e.g. h_range=(1e-16, 1.0)')
    exact = df(x0)
    try:
        exact = _real(float(exact), f'df({x0:g})')
        _real(float(f(x0)), f'f({x0:g})')
    except TypeError:
        raise TypeError(f'f and df must return plain numbers (this lab works on floats), '
                        f'got {type(exact).__name__}') from None
    lo, hi = math.log10(hmin), math.log10(hmax)
    hs = np.logspace(lo, hi, 97)
    curves = {}
    for dtype in (np.float64, np.float32):
        d = np.array([_differences(f, x0, h, dtype) for h in hs])
        # an exact zero error would vanish from a log plot: floor it
        curves[dtype.__name__] = np.maximum(np.abs(d - exact), 1e-20)
    start = min(max(1e-4, hmin), hmax)
    slider = widgets.FloatLogSlider(value=start, base=10, min=lo, max=hi, step=(hi - lo) / 96,
                                    description='h', readout_format='.1e', continuous_update=False)
    readout, plot = widgets.HTML(), _image(5.5)

    def show(change=None):
        h = slider.value
        rows = []
        for dtype in (np.float64, np.float32):
            fw, ce = _differences(f, x0, h, dtype)
            rows.append(f'<tr><td>{dtype.__name__}</td><td>{abs(fw - exact):.2e}</td>'
                        f'<td>{abs(ce - exact):.2e}</td></tr>')
        readout.value = (f'<b>h = {h:.1e}</b>, exact f\'({x0:g}) = {exact:.10g}'
                         '<table><tr><th></th><th>forward error</th><th>central error</th></tr>'
                         + ''.join(rows) + '</table>')
        fig = _figure()
        ax = fig.add_subplot()
        styles = {('float64', 0): ('#1f5fbf', '-'), ('float64', 1): ('#c0392b', '-'),
                  ('float32', 0): ('#1f5fbf', ':'), ('float32', 1): ('#c0392b', ':')}
        for (name, col), (colour, ls) in styles.items():
            kind = 'forward' if col == 0 else 'central'
            ax.loglog(hs, curves[name][:, col], ls, color=colour, label=f'{kind}, {name}')
        ax.axvline(h, color='#555555', lw=1)
        ax.set_xlabel('step h')
        ax.set_ylabel('|error|')
        ax.set_title('truncation falls with h, round-off rises as h shrinks')
        ax.legend(fontsize=7)
        plot.value = _png(fig)

    show()
    slider.observe(show, names='value')
    return _panel([slider, readout, plot], slider=slider, readout=readout, plot=plot,
                  output=plot, hs=hs, errors=curves, exact=exact)


# --- training ------------------------------------------------------------------------------------
def training_dashboard(step, epochs=100, X=None, y=None, predict=None, lr=0.1, run=False, grid=40):
    """Progress bar, live loss curve and (for 2-D data) decision boundary while a model trains.

    `step(lr) -> loss` performs one training step; `predict(points (k, 2)) ->
    scores (k,)`, > 0 meaning class 1, draws the boundary on a grid x grid
    mesh (predict costs grid² model calls). `run=True` trains at once.
    """
    if not callable(step):
        raise TypeError('training_dashboard needs step(lr) -> loss, a function doing one training step')
    whole(epochs, 'epochs')
    lr = _real(lr, 'lr')
    if lr <= 0:
        raise ValueError(f'lr must be positive, got {lr:g}: try lr=0.1')
    if X is not None:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(f'X must be an (n, 2) array of points to draw a decision boundary, '
                             f'got shape {X.shape}; leave X out to see only the loss')
        if predict is None:
            raise ValueError('to draw the decision boundary, also pass predict=f(points) -> scores')
        y = np.zeros(len(X)) if y is None else np.asarray(y).ravel()
        if len(y) != len(X):
            raise ValueError(f'X has {len(X)} points but y has {len(y)} labels')
    losses = []
    lr_w = widgets.FloatLogSlider(value=lr, base=10, min=min(-4, math.floor(math.log10(lr))),
                                  max=max(0, math.ceil(math.log10(lr))), step=0.1,
                                  description='lr', readout_format='.2g')
    epochs_w = widgets.BoundedIntText(value=epochs, min=1, max=max(100_000, epochs), description='epochs',
                                      layout=widgets.Layout(width='180px'))
    button = widgets.Button(description='Train', button_style='primary', icon='play')
    progress = widgets.IntProgress(value=0, min=0, max=epochs, description='epoch 0')
    status = widgets.HTML()
    loss_plot = _image(4.5)
    boundary = _image(3.4) if X is not None else None

    def draw(with_boundary=True):
        fig = _figure(4.5, 3.2)
        ax = fig.add_subplot()
        if losses:
            ax.plot(range(1, len(losses) + 1), losses, color='#1f5fbf')
            if min(losses) > 0:
                ax.set_yscale('log')
        ax.set_xlabel('epoch')
        ax.set_ylabel('loss')
        ax.set_title(f'loss {losses[-1]:.4g}' if losses else 'loss (not trained yet)')
        loss_plot.value = _png(fig)
        if boundary is not None and with_boundary:
            boundary.value = _png(_boundary_figure(X, y, predict, grid))

    def train(n=None, rate=None):
        """Run n epochs (default: the epochs box) at learning rate `rate` (default: the slider)."""
        n = epochs_w.value if n is None else int(n)
        rate = lr_w.value if rate is None else float(rate)
        progress.max, progress.value = n, 0
        # Redraw the loss about twice a second and the (costly) boundary a few
        # times per run: drawing every epoch would take longer than training.
        last = time.perf_counter()
        every = max(1, n // 4)
        button.disabled = True
        try:
            for k in range(1, n + 1):
                loss = float(step(rate))
                losses.append(loss)
                progress.value, progress.description = k, f'epoch {k}'
                if not math.isfinite(loss):
                    status.value = _error_html(ValueError(
                        f'loss is {loss} at epoch {k}: training diverged; lower the learning '
                        f'rate (now {rate:g}) and train again'))
                    break
                if k % every == 0 and k < n:
                    draw()
                    last = time.perf_counter()
                elif time.perf_counter() - last > 0.5:
                    draw(with_boundary=False)
                    last = time.perf_counter()
            else:
                status.value = f'trained {n} epochs at lr {rate:g}: loss {losses[-1]:.4g}'
        except Exception as err:
            status.value = _error_html(err)
        finally:
            button.disabled = False
        draw()
        return losses

    def ready(change):
        status.value = (f'next run: {epochs_w.value} epochs at lr {lr_w.value:.3g} '
                        f'(from {len(losses)} done): press Train')

    button.on_click(lambda _: train())
    lr_w.observe(ready, names='value')
    epochs_w.observe(ready, names='value')
    draw()
    controls = widgets.HBox([lr_w, epochs_w, button])
    plots = widgets.HBox([loss_plot] + ([boundary] if boundary is not None else []))
    box = _panel([controls, progress, status, plots], losses=losses, lr=lr_w, epochs=epochs_w,
                 button=button, progress=progress, status=status, loss_plot=loss_plot,
                 boundary=boundary, output=loss_plot, train=train)
    if run:
        train()
    return box


def _boundary_figure(X, y, predict, steps=40):
    """Filled contour of sign(predict) over the data's bounding box, points on top."""
    pad = 0.25 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], steps), np.linspace(lo[1], hi[1], steps))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    scores = np.asarray(predict(grid), dtype=float).reshape(gx.shape)
    fig = _figure(3.4, 3.2)
    ax = fig.add_subplot()
    ax.contourf(gx, gy, scores > 0, levels=[-0.5, 0.5, 1.5], colors=['#f5c6c0', '#c6d8f5'])
    if scores.min() < 0 < scores.max():
        ax.contour(gx, gy, scores, levels=[0], colors='#333333', linewidths=1)
    ax.scatter(X[:, 0], X[:, 1], c=np.where(y > 0, '#1f5fbf', '#c0392b'), s=10)
    ax.set_title('decision boundary')
    return fig


# --- forward vs reverse mode ----------------------------------------------------------------
def _race_f(*xs):
    """n inputs, one output: sum_i tanh(x_i x_(i-1)), cheap and the same for every mode."""
    total = 0.0
    for i, x in enumerate(xs):
        total = total + tanh(x * xs[i - 1])
    return total


def mode_race(n_values=(1, 2, 4, 8, 16, 32), repeats=3, f=None):
    """Time jacobian(f, mode='forward') (n passes) against mode='reverse' (one pass) as n grows.

    `f` takes n numbers and returns one; `.results` holds the timings (best of `repeats`).
    """
    n_values = list(n_values)
    if not n_values or any(isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1
                           for n in n_values):
        raise ValueError(f'n_values must be a non-empty list of whole numbers >= 1, got {n_values!r}')
    whole(repeats, 'repeats')
    f = _race_f if f is None else f
    results = []
    button = widgets.Button(description='Race again', icon='refresh')
    table, plot, status = widgets.HTML(), _image(5), widgets.HTML()

    def race(_=None):
        results.clear()
        mismatch = []
        for n in sorted(set(int(n) for n in n_values)):
            xs = [0.1 * (i + 1) for i in range(n)]
            jac_fwd, jac_rev = jacobian(f, mode='forward'), jacobian(f, mode='reverse')
            J_fwd, J_rev = jac_fwd(*xs), jac_rev(*xs)
            t_fwd = best_time(lambda: jac_fwd(*xs), repeats)
            t_rev = best_time(lambda: jac_rev(*xs), repeats)
            if not np.allclose(J_fwd, J_rev, rtol=1e-9, atol=1e-12):
                mismatch.append(n)
            results.append({'n': n, 'forward_s': t_fwd, 'reverse_s': t_rev,
                            'ratio': t_fwd / t_rev if t_rev > 0 else math.inf})
        rows = ''.join(f'<tr><td>{r["n"]}</td><td>{r["forward_s"] * 1e3:.3f}</td>'
                       f'<td>{r["reverse_s"] * 1e3:.3f}</td><td>{r["ratio"]:.2f}</td></tr>'
                       for r in results)
        table.value = ('<table style="text-align:right" cellpadding="4"><tr><th>inputs n</th>'
                       '<th>forward ms</th><th>reverse ms</th><th>forward / reverse</th></tr>'
                       + rows + '</table>')
        status.value = (_error_html(ValueError(f'forward and reverse Jacobians differ at n = {mismatch}'))
                        if mismatch else f'best of {repeats} runs; both modes give the same Jacobian')
        fig = _figure(5, 3.2)
        ax = fig.add_subplot()
        ns = [r['n'] for r in results]
        ax.loglog(ns, [r['forward_s'] for r in results], 'o-', color='#1f5fbf', label='forward (n passes)')
        ax.loglog(ns, [r['reverse_s'] for r in results], 's-', color='#c0392b', label='reverse (1 pass)')
        ax.set_xlabel('number of inputs n')
        ax.set_ylabel('seconds per gradient')
        ax.legend(fontsize=8)
        plot.value = _png(fig)
        return results

    race()
    button.on_click(race)
    return _panel([button, status, widgets.HBox([plot, table])], results=results, button=button,
                  plot=plot, table=table, status=status, output=plot, race=race)


# --- forward mode, step by step (lesson 03) ---------------------------------------------------
# A forward pass computes every node's (primal, tangent) pair in topological order: a leaf's
# tangent is its seed, an op's is sum_i  d out/d in_i * tangent(in_i), with the partials of
# ops.OPS (the rule Dual applies). Computed here on the graph of a Value expression, so the
# drawing can show the pairs appearing left to right.
class ForwardStep:
    """Node `node` gets primal `primal` and tangent `tangent`; `terms` lists the
    (input, partial, input's tangent) products that add up to it (empty for a leaf)."""
    __slots__ = ('index', 'node', 'primal', 'tangent', 'terms')

    def __init__(self, index, node, primal, tangent, terms):
        self.index, self.node, self.primal, self.tangent, self.terms = index, node, primal, tangent, terms

    def __repr__(self):
        return f'ForwardStep({self.index}, {_name(self.node)}, ({self.primal:.4g}, {self.tangent:.4g}))'


def _seed_of(order, seed):
    """{leaf: seed tangent} from a dict keyed by leaf labels (or leaves); other leaves get 0."""
    from .graph import Node
    leaves = [n for n in order if not n._prev]
    by_label = {n.label: n for n in leaves if getattr(n, 'label', '')}
    if not isinstance(seed, dict):
        raise TypeError(f'seed must be a dict of tangents by input label, e.g. {{"x": 1.0, "y": 0.0}}, '
                        f'got {type(seed).__name__}')
    tangents = {n: 0.0 for n in leaves}
    for key, value in seed.items():
        leaf = key if isinstance(key, Node) else by_label.get(key)
        if leaf not in tangents:
            raise ValueError(f'seed names {key!r}, which is not an input of this graph; its inputs '
                             f'are labelled {sorted(by_label) or "(none: give the leaves labels)"}')
        tangents[leaf] = float(value)
    return tangents


def forward_steps(root, seed):
    """The states of a forward-mode pass over the graph of `root` (a scalar Value), seeded with
    `seed` ({'x': 1.0, 'y': 0.0}: the tangent of each input; unnamed inputs get 0)."""
    from .graph import topo_sort
    from .ops import plain
    from .value import contributions
    if not isinstance(root, Value) or isinstance(getattr(root, 'data', None), np.ndarray):
        raise TypeError(f'forward_steps needs a scalar Value (the result of a computation), '
                        f'got {type(root).__name__}')
    order = topo_sort(root)
    seeds = _seed_of(order, seed)
    tangent, steps = {}, []
    for k, node in enumerate(order):
        primal = float(plain(node.data))
        terms = []
        if not node._prev:
            t = seeds[node]
        else:
            t = 0.0
            # the partials Value.backward uses (times 1): a constant input has tangent 0
            for p, local in contributions(node, 1.0):
                local = float(plain(local))
                terms.append((p, local, tangent[p]))
                t += local * tangent[p]
        tangent[node] = t
        steps.append(ForwardStep(k, node, primal, t, terms))
    return steps


def _hide_unknown(svg, ids, known):
    """Blank the data and tangent of nodes not computed yet (graphviz groups carry the DOT id)."""
    def fix(m):
        if m.group(1) in known:
            return m.group(0)
        return re.sub(r'>(data|tangent) [^<]*<', r'>\1 ?<', m.group(0))
    return re.sub(r'<g id="node\d+" class="node">\s*<title>(v\d+)</title>.*?</g>', fix, svg, flags=re.S)


def forward_stepper(root, seed, interval=1200):
    """A step slider and a play button that walk a forward-mode pass one node at a time.

    Step 0 is the seed; step k shows the (primal, tangent) pairs of the first k
    nodes in topological order (left to right), the k-th highlighted with the sum
    that gave its tangent. `seed` is a dict of input tangents by label
    ({'x': 1.0, 'y': 0.0}), or a list of such dicts to choose from with buttons.
    """
    from .graph import topo_sort
    seeds = list(seed) if isinstance(seed, (list, tuple)) else [seed]
    if not seeds:
        raise ValueError('forward_stepper needs a seed, e.g. {"x": 1.0, "y": 0.0}')
    runs = [forward_steps(root, s) for s in seeds]
    order = topo_sort(root)
    ids = {n: f'v{i}' for i, n in enumerate(order)}
    n = len(order)
    slider = widgets.IntSlider(value=0, min=0, max=n, description='step')
    play = widgets.Play(value=0, min=0, max=n, interval=interval, description='play')
    widgets.link((play, 'value'), (slider, 'value'))
    labels = [unicodedata.normalize('NFC', 'seed ' + ', '.join(f'{_label(k)}\u0307 = {v:g}' for k, v in s.items()))
              for s in seeds]
    choice = widgets.ToggleButtons(options=list(range(len(seeds))), value=0)
    choice.options = [(text, i) for i, text in enumerate(labels)]
    caption, output = widgets.HTML(), widgets.HTML()

    def show(change=None):
        steps, k = runs[choice.value], slider.value
        done = steps[:k]
        tangents = {s.node: s.tangent for s in done}
        if k == 0:
            node = None
            caption.value = (f'Step 0 of {n}: {html.escape(labels[choice.value])}; '
                             'nothing computed yet.')
        else:
            step = steps[k - 1]
            node = step.node
            if not step.terms:
                how = f'an input: its tangent is the seed, {step.tangent:.4g}'
            else:
                out = _short(node)
                names = ' + '.join(f'∂{out}/∂{_short(p)} · {_dotted(p)}' for p, _, _ in step.terms)
                parts = ' + '.join(f'{_num(local)} · {_num(tan)}' for _, local, tan in step.terms)
                how = f'tangent {_dotted(node)} = {names} = {parts} = <b>{step.tangent:.4g}</b>'
            caption.value = (f'Step {k} of {n}: <b>{html.escape(_name(node))}</b> = '
                             f'({step.primal:.4g}, {step.tangent:.4g}), {how}')
        view = draw_graph(root, show_grad=True, grads={m: tangents.get(m) for m in order},
                          highlight=node, rankdir='LR')
        body = _graph_html(view).replace('>grad ', '>tangent ')
        output.value = _hide_unknown(body, ids, {ids[s.node] for s in done})

    show()
    slider.observe(show, names='value')
    choice.observe(lambda change: show(), names='value')
    parts = [widgets.HBox([play, slider]), caption, output]
    if len(seeds) > 1:
        parts.insert(0, choice)
    return _panel(parts, slider=slider, play=play, choice=choice, caption=caption, output=output,
                  runs=runs)


def _label(key):
    return key if isinstance(key, str) else _short(key)


def _short(node):
    """A node's name for a formula: 'p' for the label 'p = x·y'."""
    return html.escape(_name(node).split(' = ')[0].strip())


def _dotted(node):
    """The tangent's symbol: a dot over a one-letter name (ẋ), else 'tangent of name'."""
    name = _short(node)
    return unicodedata.normalize('NFC', name + '\u0307') if len(name) == 1 else f'(tangent of {name})'


def _num(x):
    return f'({x:.4g})' if x < 0 else f'{x:.4g}'


__all__ += ['forward_stepper', 'forward_steps']


# --- lesson 06 -------------------------------------------------------------------------------
# Broadcasting in reverse (a broadcast copies, so its gradient sums the copies) and why
# frameworks vectorize (a tensor graph keeps its size while the scalar one grows).

def parse_shape(text, what='shape'):
    """'3, 1', '(3, 1)', '[3, 1]', '4' or '' / '()' (a scalar) -> a tuple of sizes."""
    if isinstance(text, tuple) and all(isinstance(n, int) and not isinstance(n, bool) for n in text):
        parts = text
    else:
        cleaned = re.sub(r'(?<=\d)\s*[x×]\s*(?=\d)', ',', str(text).strip().strip('()[]'))   # 2x3 = 2, 3
        try:
            parts = tuple(int(p) for p in cleaned.split(',') if p.strip())
        except ValueError:
            raise ValueError(f'{what}: {text!r} is not a shape; write sizes separated by commas, '
                             f'e.g. 3, 1 (or () for a scalar)') from None
    if any(n < 1 for n in parts) or len(parts) > 4:
        raise ValueError(f'{what}: {text!r}: use 0 to 4 axes of size 1 or more, e.g. 2, 3')
    return parts


def broadcast_report(shape_a, shape_b):
    """How `a + b` broadcasts, and where each input's gradient must be summed.

    Returns {'out': result shape, 'a': info, 'b': info}, each info a dict with
    'shape', 'new' (leading axes of out the input lacks), 'stretched' (axes of out
    where the input had size 1 and out is larger), 'summed' (both, sorted) and
    'copies' (how many output entries each input entry feeds). Raises ValueError
    naming the clashing axis when the shapes do not broadcast.
    """
    sa, sb = tuple(shape_a), tuple(shape_b)
    ndim = max(len(sa), len(sb))
    out = []
    for k in range(1, ndim + 1):                     # aligned from the right
        na = sa[-k] if k <= len(sa) else 1
        nb = sb[-k] if k <= len(sb) else 1
        if na != nb and 1 not in (na, nb):
            raise ValueError(f'{sa} and {sb} do not broadcast: aligned from the right, axis -{k} '
                             f'has sizes {na} and {nb}; each pair must be equal or one of them 1. '
                             f'Fix: make one of them 1 there (e.g. reshape to a column, x.reshape(-1, 1))')
        out.append(max(na, nb))
    out = tuple(reversed(out))

    def info(shape):
        lead = ndim - len(shape)
        new = tuple(range(lead))
        stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and out[lead + i] != 1)
        copies = int(np.prod([out[i] for i in new + stretched], dtype=np.int64))
        return {'shape': shape, 'new': new, 'stretched': stretched,
                'summed': tuple(sorted(new + stretched)), 'copies': copies}
    return {'out': out, 'a': info(sa), 'b': info(sb)}


def _axes_text(axes):
    return 'no axes' if not axes else ('axis ' if len(axes) == 1 else 'axes ') + \
        ', '.join(map(str, axes))


def _judge_guess(guess, rep):
    """HTML verdict on the student's guess of the axes a's gradient sums over (None if no guess)."""
    text = str(guess).strip()
    if not text:
        return None
    if text.lower() in ('none', '-', '()'):
        picked = ()
    else:
        try:
            picked = tuple(sorted({int(p) for p in text.strip('()[]').split(',') if p.strip()}))
        except ValueError:
            return _error_html(ValueError(f'guess {text!r}: write axes of the output separated by '
                                          f'commas, e.g. 0, 2 (or none)'))
    a, out = rep['a'], rep['out']
    right = a['summed']
    if picked == right:
        return (f'<span style="color:#1e8449"><b>Right.</b> a\'s gradient sums over '
                f'{_axes_text(right)} of the output.</span>')
    lead = len(out) - len(a['shape'])
    why = []
    for ax in picked:
        if not 0 <= ax < len(out):
            why.append(f'the output has axes 0..{len(out) - 1}; there is no axis {ax}')
        elif ax not in right:
            why.append(f'axis {ax}: a has size {a["shape"][ax - lead]} there, as the output does, so each '
                       f'entry of a fed exactly one output entry along it; summing would add the '
                       f'gradients of <i>different</i> entries of a')
    for ax in right:
        if ax not in picked:
            if ax < lead:
                why.append(f'axis {ax}: a has no such axis (it is new, added on the left), so a was '
                           f'copied {out[ax]} times along it; its gradient adds those {out[ax]} copies')
            else:
                why.append(f'axis {ax}: a has size 1 there and the output {out[ax]}, so a was copied '
                           f'{out[ax]} times; its gradient adds those copies (keeping the size-1 axis)')
    return ('<span style="color:#c0392b"><b>Not quite.</b></span><ul>'
            + ''.join(f'<li>{w}</li>' for w in why) + '</ul>')


def _broadcast_table(rep, mark=True):
    out = rep['out']
    n = len(out)
    head = ''.join(f'<th style="padding:0 8px">axis {i}</th>' for i in range(n))

    def row(name, shape, summed):
        lead = n - len(shape)
        cells = []
        for i in range(n):
            if i < lead:
                cells.append('<td style="color:#888; padding:0 8px">(new)</td>')
            else:
                size = shape[i - lead]
                style = ' style="color:#c0392b; font-weight:bold; padding:0 8px"' if mark and i in summed \
                    else ' style="padding:0 8px"'
                cells.append(f'<td{style}>{size}</td>')
        return f'<tr><td><b>{name}</b> {shape}</td>{"".join(cells)}</tr>'
    return ('<table style="font-family:monospace; text-align:center">'
            f'<tr><td></td>{head}</tr>'
            + row('a', rep['a']['shape'], rep['a']['summed'])
            + row('b', rep['b']['shape'], rep['b']['summed'])
            + row('out', out, ()) + '</table>')


def broadcast_explorer(a='3, 1', b='4', guess=''):
    """Pick the shapes of a and b: see out = a + b's shape, and which axes each gradient sums over.

    Type a guess for a's summed axes first: a wrong guess is explained axis by axis.
    With grad_out all ones, each entry of a.grad counts how many output entries it fed.
    """
    presets = ['()', '4', '1', '3, 1', '1, 4', '3, 4', '2, 3, 4', '2, 1, 4', '2, 3, 1', '4, 3']
    box_a = widgets.Combobox(value=str(a), options=presets, description='shape of a',
                             ensure_option=False, continuous_update=False)
    box_b = widgets.Combobox(value=str(b), options=presets, description='shape of b',
                             ensure_option=False, continuous_update=False)
    box_guess = widgets.Text(value=str(guess), description="a's guess",
                             placeholder='axes of out a.grad sums over, e.g. 1 (or none)',
                             continuous_update=False)
    reveal = widgets.Checkbox(value=False, description='show the answer')
    table, verdict, answer = widgets.HTML(), widgets.HTML(), widgets.HTML()
    state = {}

    def show(change=None):
        try:
            sa, sb = parse_shape(box_a.value, 'shape of a'), parse_shape(box_b.value, 'shape of b')
            rep = broadcast_report(sa, sb)
        except ValueError as err:
            state.clear()
            table.value = _error_html(err)
            verdict.value, answer.value = '', ''
            return
        state.update(rep)
        judged = _judge_guess(box_guess.value, rep)
        # the summed sizes turn red only once the student has guessed or asked: no spoiler
        table.value = _broadcast_table(rep, mark=bool(reveal.value or judged))
        verdict.value = judged or '<i>Type your guess for a, then tick "show the answer".</i>'
        if not (reveal.value or judged):
            answer.value = ''
            return
        ones = np.ones
        from . import Tensor                        # the engine's answer, with grad_out all ones (public name)
        ta, tb = Tensor(ones(sa), requires_grad=True), Tensor(ones(sb), requires_grad=True)
        (ta + tb).sum().backward()
        lines = [f'out = a + b has shape <b>{rep["out"]}</b>.']
        for name, t in (('a', ta), ('b', tb)):
            inf = rep[name]
            how = []
            if inf['new']:
                how.append(f'sum away the new {_axes_text(inf["new"])}')
            if inf['stretched']:
                how.append(f'sum {_axes_text(inf["stretched"])} keeping size 1')
            lines.append(f'{name}.grad: {" then ".join(how) or "nothing to sum"} → shape '
                         f'<b>{inf["shape"]}</b>; each entry fed {inf["copies"]} output '
                         f'entr{"y" if inf["copies"] == 1 else "ies"}, so with grad_out all ones '
                         f'<code>{name}.grad = {html.escape(" ".join(np.array2string(t.grad, separator=", ").split()))}</code>')
        answer.value = '<br>'.join(lines)

    for w in (box_a, box_b, box_guess, reveal):
        w.observe(show, names='value')
    show()
    return _panel([widgets.HBox([box_a, box_b]), widgets.HBox([box_guess, reveal]), table, verdict, answer],
                  a=box_a, b=box_b, guess=box_guess, reveal=reveal, table=table, verdict=verdict,
                  answer=answer, report=state)


def mlp_graph_sizes(width, batch=16, seed=0):
    """Node counts of one MSE loss graph of an MLP 2-width-width-1 on `batch` points:
    built from scalar `Value`s (nn.MLP) and from `Tensor`s (nn.mlp). Also returns the tensor loss."""
    from . import Tensor, topo_sort              # public names (the engine's modules may move)
    from .data import make_moons
    from .nn import MLP, mlp
    for name, v, low in (('width', width, 2), ('batch', batch, 1)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
            raise ValueError(f'mlp_graph_sizes: {name} must be a whole number >= {low}, got {v!r}'
                             + (' (a scalar layer of one neuron returns a bare Value, not a list)'
                                if name == 'width' else ''))
    X, y = make_moons(batch, seed=seed)
    scalar = MLP(2, [width, width, 1], seed=seed)
    scores = [scalar(list(p)) for p in X.tolist()]
    loss_v = Value.sum((s - t) ** 2 for s, t in zip(scores, y.tolist())) / batch
    net = mlp([2, width, width, 1], seed=seed)
    for i, layer in enumerate(net.layers[::2], start=1):
        layer.w.label, layer.b.label = f'W{i}', f'b{i}'
    x = Tensor(X, label='X')
    loss_t = ((net(x).reshape(-1) - Tensor(y, label='y')) ** 2).mean()
    loss_t.label = 'loss'
    loss_t.backward()
    return {'scalar_nodes': len(topo_sort(loss_v)), 'tensor_nodes': len(topo_sort(loss_t)),
            'tensor_loss': loss_t}


def vectorize_explorer(width=4, batch=16, max_width=32):
    """A width slider: the node counts of the scalar and tensor graphs of the same MLP loss,
    and the tensor graph drawn with the shape of every node (it keeps its size; shapes grow)."""
    if isinstance(width, bool) or not isinstance(width, numbers.Integral) or not 2 <= width <= max_width:
        raise ValueError(f'vectorize_explorer: width must be a whole number from 2 to max_width = {max_width}, '
                         f'got {width!r}; e.g. vectorize_explorer(width=4)')
    slider = widgets.IntSlider(value=width, min=2, max=max_width, description='width',
                               continuous_update=False)
    readout, output = widgets.HTML(), widgets.HTML()

    def show(change=None):
        sizes = mlp_graph_sizes(slider.value, batch=batch)
        readout.value = (f'MLP 2-{slider.value}-{slider.value}-1, batch {batch}: the scalar graph has '
                         f'<b>{sizes["scalar_nodes"]:,}</b> nodes, the tensor graph '
                         f'<b>{sizes["tensor_nodes"]}</b>.')
        output.value = _graph_html(draw_graph(sizes['tensor_loss'], rankdir='TB'))

    show()
    slider.observe(show, names='value')
    return _panel([slider, readout, output], slider=slider, readout=readout, output=output)


def matmul_entry_terms(X, G, d, m):
    """The terms of dL/dW[d, m] = Σ_n X[n, d] G[n, m] for Y = X @ W (a list of (n, x, g)) and their sum."""
    X, G = np.asarray(X, dtype=float), np.asarray(G, dtype=float)
    if X.ndim != 2 or G.ndim != 2 or X.shape[0] != G.shape[0]:
        raise ValueError(f'matmul_entry: X must be (N, D) and G = dL/dY (N, M) with the same N rows, got '
                         f'X {X.shape} and G {G.shape}')
    if not (0 <= d < X.shape[1] and 0 <= m < G.shape[1]):
        raise ValueError(f'matmul_entry: the entry ({d}, {m}) is outside dL/dW, shape {(X.shape[1], G.shape[1])}')
    terms = [(n, X[n, d], G[n, m]) for n in range(X.shape[0])]
    return terms, float(sum(x * g for _, x, g in terms))


def _matrix_panel(ax, M, title, cols=(), cell=None):
    """One matrix as a grid of numbers, with whole columns or one cell shaded."""
    rows, ncols = M.shape
    shade = np.zeros(M.shape)
    for c in cols:
        shade[:, c] = 1
    if cell is not None:
        shade[cell] = 1
    ax.imshow(shade, cmap='Oranges', vmin=0, vmax=2.2, aspect='equal')
    for (i, j), v in np.ndenumerate(M):
        ax.text(j, i, f'{v:g}', ha='center', va='center', fontsize=10)
    ax.set_xticks(range(ncols))
    ax.set_yticks(range(rows))
    ax.tick_params(length=0, labelsize=8)
    ax.set_title(title, fontsize=10)
    for s in ax.spines.values():
        s.set_visible(False)


def matmul_entry_explorer(X, G, d=0, m=0):
    """Two sliders pick an entry (d, m) of dL/dW = X.T @ G for Y = X @ W: the picture shades
    column d of X and column m of G, whose products, summed over the rows, make that entry."""
    terms, total = matmul_entry_terms(X, G, d, m)          # checks shapes and the start entry
    X, G = np.asarray(X, dtype=float), np.asarray(G, dtype=float)
    d_w = widgets.IntSlider(value=d, min=0, max=X.shape[1] - 1, description='d (row of W)')
    m_w = widgets.IntSlider(value=m, min=0, max=G.shape[1] - 1, description='m (column of W)')
    readout, plot = widgets.HTML(), _image(7.5)

    def show(change=None):
        dd, mm = d_w.value, m_w.value
        terms, total = matmul_entry_terms(X, G, dd, mm)
        products = ' + '.join(f'X[{n},{dd}]·G[{n},{mm}]' for n, _, _ in terms)
        numbers = ' + '.join(f'({x:g})·({g:g})' for _, x, g in terms)
        readout.value = html.escape(f'dL/dW[{dd},{mm}] = {products} = {numbers} = {total:g}')
        fig = _figure(7.5, 2.4)
        axes = fig.subplots(1, 3, gridspec_kw={'width_ratios': [X.shape[1], G.shape[1], G.shape[1]]})
        _matrix_panel(axes[0], X, f'X: column {dd}', cols=[dd])
        _matrix_panel(axes[1], G, f'G = dL/dY: column {mm}', cols=[mm])
        _matrix_panel(axes[2], X.T @ G, f'dL/dW = X.T @ G: entry ({dd}, {mm})', cell=(dd, mm))
        plot.value = _png(fig)

    show()
    d_w.observe(show, names='value')
    m_w.observe(show, names='value')
    return _panel([widgets.HBox([d_w, m_w]), readout, plot], d=d_w, m=m_w, readout=readout, plot=plot)


# --- lesson 07 ------------------------------------------------------------------------------
# Higher-order derivatives: Taylor polynomials from repeated derivatives, Newton's method
# against gradient descent. Appended by lesson 07; other lessons add their own blocks below.
__all__ += ['taylor_explorer', 'newton_explorer']


def _derivatives_at(f, x0, n):
    """[f(x0), f'(x0), ..., f^(n)(x0)]: each derivative is the gradient of the one before,
    taken on the previous gradient's own graph (backward(create_graph=True))."""
    x = Value(_real(x0, 'x0'), label='x')
    current = f(x)
    if not isinstance(current, Value):
        raise TypeError(f'f must return a Value built from its input, got {type(current).__name__}')
    out = [current.data]
    for _ in range(n):
        if not (isinstance(current, Value) and current.requires_grad):
            out.append(0.0)           # a constant: every higher derivative is 0
            current = 0.0
            continue
        x.grad = 0.0
        current.backward(create_graph=True)
        current = x.grad
        out.append(current.data if isinstance(current, Value) else float(current))
    return out


def _taylor(coefficients, x0, xs, degree):
    """Σ_{k<=degree} c_k (x - x0)^k on an array of points (Horner's rule)."""
    dx = np.asarray(xs, dtype=float) - x0
    total = np.zeros_like(dx)
    for c in reversed(coefficients[:degree + 1]):
        total = total * dx + c
    return total


def taylor_explorer(f, x0=0.0, max_degree=8, x_range=(-3.0, 3.0), name='f'):
    """A slider on the degree n of the Taylor polynomial of f around x0, drawn over f.

    T_n(x) = Σ_{k<=n} f^(k)(x0) / k! · (x - x0)^k; the derivatives are taken once,
    each as the gradient of the one before. `f` takes and returns a `Value`.
    """
    if not callable(f):
        raise TypeError('taylor_explorer needs f, a function of one Value, e.g. lambda x: x.sin()')
    if isinstance(max_degree, bool) or not isinstance(max_degree, numbers.Integral) \
            or not 0 <= max_degree <= 12:
        raise ValueError(f'max_degree must be a whole number from 0 to 12, got {max_degree!r} '
                         '(the derivative graphs grow quickly with the order)')
    if not isinstance(x_range, (tuple, list)) or len(x_range) != 2:
        raise ValueError(f'x_range must be (left, right), got {x_range!r}')
    lo, hi = (_real(v, 'x_range') for v in x_range)
    x0 = _real(x0, 'x0')
    if not lo < hi or not lo <= x0 <= hi:
        raise ValueError(f'x_range=({lo:g}, {hi:g}) must be increasing and contain x0 = {x0:g}')
    derivs = _derivatives_at(f, x0, max_degree)
    coefficients = [d / math.factorial(k) for k, d in enumerate(derivs)]
    xs = np.linspace(lo, hi, 241)
    ys = np.array([f(Value(v)).data for v in xs])
    slider = widgets.IntSlider(value=min(1, max_degree), min=0, max=max_degree, description='degree n')
    readout, plot = widgets.HTML(), _image(5.5)
    span = ys.max() - ys.min() or 1.0

    def show(change=None):
        n = slider.value
        ts = _taylor(coefficients, x0, xs, n)
        err = np.abs(ts - ys)
        near = np.abs(xs - x0) <= 0.25 * (hi - lo)
        base = 'x' if x0 == 0 else f'(x − {x0:g})'
        terms = ' '.join(f'{c:.4g}' if k == 0 else
                         f'{"−" if c < 0 else "+"} {abs(c):.4g}·{base}' + (f'<sup>{k}</sup>' if k > 1 else '')
                         for k, c in enumerate(coefficients[:n + 1]) if k == 0 or abs(c) > 1e-12)
        readout.value = (f'<b>T<sub>{n}</sub>(x)</b> = {terms}<br>'
                         f'largest error within ±{0.25 * (hi - lo):g} of x0: {err[near].max():.3g}, '
                         f'on the whole range: {err.max():.3g}')
        fig = _figure()
        ax = fig.add_subplot()
        ax.plot(xs, ys, color='#1f5fbf', lw=2, label=name)
        ax.plot(xs, ts, '--', color='#c0392b', label=f'Taylor polynomial, degree {n}')
        ax.plot([x0], [derivs[0]], 'o', color='#333333')
        ax.set_ylim(ys.min() - 0.3 * span, ys.max() + 0.3 * span)
        ax.set_xlabel('x')
        ax.set_title(f'{name} and its degree-{n} Taylor polynomial around x0 = {x0:g}')
        ax.legend(fontsize=8, loc='best')
        plot.value = _png(fig)

    show()
    slider.observe(show, names='value')
    return _panel([slider, readout, plot], slider=slider, readout=readout, plot=plot, output=plot,
                  derivatives=derivs, coefficients=coefficients,
                  polynomial=lambda x, n: _taylor(coefficients, x0, x, n))


def _grad_hess(f, x):
    """(∇f(x), H(x)) as numpy arrays, f taking n numbers."""
    from .functional import grad, hessian
    n = len(x)
    g = grad(f, argnums=tuple(range(n)))(*x)
    return np.array(g, dtype=float), np.asarray(hessian(f)(*x), dtype=float)


def _descend(f, x0, steps, update):
    """The points x_0 .. x_k of x_{k+1} = update(x_k); stops early at a non-finite point."""
    path = [np.array(x0, dtype=float)]
    note = ''
    for k in range(steps):
        try:
            with np.errstate(all='ignore'):
                nxt = update(path[-1])
        except (ArithmeticError, ValueError, np.linalg.LinAlgError) as err:
            note = f'stopped at step {k + 1}: {type(err).__name__}: {err}'
            break
        if not np.all(np.isfinite(nxt)) or np.max(np.abs(nxt)) > 1e12:
            note = f'diverged at step {k + 1} (|x| passed 1e12)'
            break
        path.append(nxt)
    return np.array(path), note


def gd_path(f, x0, lr, steps):
    """Gradient descent x_{k+1} = x_k - lr ∇f(x_k): the array of points x_0 .. x_steps."""
    from .functional import grad
    n = len(x0)
    g = grad(f, argnums=tuple(range(n)))
    return _descend(f, x0, steps, lambda x: x - lr * np.array(g(*x), dtype=float))


def newton_path(f, x0, steps, damping=1.0):
    """Newton's method x_{k+1} = x_k - damping · H(x_k)⁻¹ ∇f(x_k): points x_0 .. x_steps."""
    def update(x):
        g, H = _grad_hess(f, x)
        return x - damping * np.linalg.solve(H, g)
    return _descend(f, x0, steps, update)


__all__ += ['gd_path', 'newton_path']


def newton_explorer(f, x0, minimum, lr=1e-3, steps=20, max_steps=1000, damping=1.0,
                    box=None, name='f'):
    """Gradient descent against Newton's method from the same start, on a 1-D or 2-D f.

    Sliders: the learning rate of gradient descent, Newton's step length (damping, 1 =
    the full Newton step) and the number of iterations shown. Left: the paths (on f's
    curve, or on its contours); right: the distance to `minimum` per iteration, on a
    log scale, where Newton's quadratic convergence shows as a curve that plunges.
    """
    if not callable(f):
        raise TypeError('newton_explorer needs f, a function of n numbers (1 or 2)')
    x0 = np.atleast_1d(np.asarray(x0, dtype=float))
    x_star = np.atleast_1d(np.asarray(minimum, dtype=float))
    if x0.ndim != 1 or len(x0) not in (1, 2) or x_star.shape != x0.shape:
        raise ValueError(f'x0 and minimum must be points of the same size, 1 or 2 numbers; '
                         f'got {x0.tolist()} and {x_star.tolist()}')
    for what, v in (('steps', steps), ('max_steps', max_steps)):
        whole(v, what)
    if steps > max_steps:
        raise ValueError(f'steps={steps} is more than max_steps={max_steps}')
    lr, damping = _real(lr, 'lr'), _real(damping, 'damping')
    if lr <= 0 or not 0 < damping <= 2:
        raise ValueError(f'lr must be positive and damping in (0, 2], got lr={lr:g}, damping={damping:g}')
    lr_w = widgets.FloatLogSlider(value=lr, base=10, min=-5, max=0, step=0.05, description='GD lr',
                                  readout_format='.2g', continuous_update=False)
    damping_w = widgets.FloatSlider(value=damping, min=0.1, max=1.5, step=0.05,
                                    description='Newton step', continuous_update=False)
    steps_w = widgets.IntSlider(value=steps, min=1, max=max_steps, description='iterations',
                                continuous_update=False)
    readout, plot = widgets.HTML(), _image(9)
    paths, notes, errors = {}, {}, {}

    def compute(change=None):
        paths['gd'], notes['gd'] = gd_path(f, x0, lr_w.value, max_steps)
        paths['newton'], notes['newton'] = newton_path(f, x0, min(max_steps, 60), damping_w.value)
        for key, p in paths.items():
            errors[key] = np.linalg.norm(p - x_star, axis=1)
        show()

    def show(change=None):
        k = steps_w.value
        fig = _figure(9, 3.4)
        left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        _draw_paths(left, f, {key: p[:k + 1] for key, p in paths.items()}, x_star, box)
        left.set_title(f'{name}: the paths' if name else 'the paths')
        for key, colour, label in (('gd', '#1f5fbf', f'gradient descent, lr {lr_w.value:.2g}'),
                                   ('newton', '#c0392b', f'Newton, step {damping_w.value:g}')):
            e = errors[key][:k + 1]
            shown = e > 0                     # an exact hit (distance 0) has no place on a log axis
            right.semilogy(np.arange(len(e))[shown], e[shown], 'o-' if len(e) < 40 else '-', ms=3,
                           color=colour, label=label)
        right.set_xlabel('iteration k')
        right.set_ylabel('distance to the minimum')
        right.set_title('error per iteration (log scale)')
        right.legend(fontsize=7)
        plot.value = _png(fig)
        rows = []
        for key, label in (('gd', 'gradient descent'), ('newton', 'Newton')):
            e = errors[key][:k + 1]
            done = f'{len(e) - 1} iterations' + (f' ({notes[key]})' if notes[key] and len(e) <= k else '')
            rows.append(f'<tr><td>{label}</td><td>{done}</td><td>{e[-1]:.3g}</td></tr>')
        first = ', '.join(f'{v:.1e}' for v in errors['newton'][:min(k + 1, 8)])
        readout.value = ('<table cellpadding="3"><tr><th></th><th>ran</th><th>distance to the minimum'
                         '</th></tr>' + ''.join(rows) + '</table>'
                         f'Newton\'s distances, step by step: {first}')

    compute()
    lr_w.observe(compute, names='value')
    damping_w.observe(compute, names='value')
    steps_w.observe(show, names='value')
    return _panel([widgets.HBox([lr_w, damping_w, steps_w]), readout, plot], lr=lr_w,
                  damping=damping_w, steps=steps_w, readout=readout, plot=plot, output=plot,
                  paths=paths, errors=errors, notes=notes)


def _draw_paths(ax, f, paths, x_star, box):
    """f's curve (1-D) or log-spaced contours (2-D), with each path's points on top."""
    every = np.concatenate(list(paths.values()) + [x_star[None, :]])
    finite = every[np.all(np.abs(every) < 1e6, axis=1)]
    if box is None:
        lo, hi = finite.min(axis=0), finite.max(axis=0)
        pad = 0.15 * (hi - lo) + 0.5
        box = [(a, b) for a, b in zip(lo - pad, hi + pad)]
    styles = {'gd': ('#1f5fbf', 'o'), 'newton': ('#c0392b', 's')}
    if len(x_star) == 1:
        (a, b), = box
        xs = np.linspace(a, b, 200)
        ax.plot(xs, [_value_of(f, v) for v in xs], color='#555555', lw=1.5)
        for key, p in paths.items():
            colour, marker = styles[key]
            ax.plot(p[:, 0], [_value_of(f, v) for v in p[:, 0]], marker + '-', ms=4, lw=0.8,
                    color=colour, alpha=0.8)
        ax.set_xlim(a, b)
        ax.set_xlabel('x')
    else:
        (a, b), (c, d) = box
        gx, gy = np.meshgrid(np.linspace(a, b, 80), np.linspace(c, d, 80))
        gz = np.array([[_value_of(f, u, v) for u, v in zip(ru, rv)] for ru, rv in zip(gx, gy)])
        levels = np.quantile(gz, np.linspace(0.02, 0.98, 14))
        ax.contour(gx, gy, gz, levels=np.unique(levels), colors='#999999', linewidths=0.6)
        for key, p in paths.items():
            colour, marker = styles[key]
            ax.plot(p[:, 0], p[:, 1], marker + '-', ms=3, lw=0.8, color=colour, alpha=0.8)
        ax.plot(*x_star, '*', ms=12, color='#333333')
        ax.set_xlim(a, b)
        ax.set_ylim(c, d)
        ax.set_xlabel('x')
        ax.set_ylabel('y')
    ax.set_title('the paths')


def _value_of(f, *xs):
    """f at plain numbers, whether f is written for floats or for Values."""
    out = f(*(Value(v) for v in xs))
    return out.data if isinstance(out, Value) else float(out)


# --- lesson 08 ---------------------------------------------------------------------------------
# checkpointing a chain: a slider over the number of segments k re-measures memory and time
def checkpoint_explorer(n=400, k=1, sweep=(1, 3, 10, 100, 400), repeats=3):
    """A slider over k, the number of checkpointed segments of the lesson's chain of n steps
    (`memory.chain`). Each k is measured once (nodes counted, peak bytes by tracemalloc,
    best CPU time of `repeats`) and joins the plot of memory and time against k; `sweep`
    are measured at the start. The counted model's curve appears once the slider has moved
    (drawn at the start, it would answer the lesson's prediction of the best k). `.results` maps k to `memory.measure_chain`'s dict,
    `.plain` is the chain without checkpoints."""
    from . import memory
    whole(repeats, 'repeats')
    n = whole(n, 'n (the number of steps)')
    sweep = [whole(s, 'each k of sweep') for s in sweep]
    for kk in [k, *sweep]:
        memory.segment_sizes(n, whole(kk, 'k (the number of segments)'))   # k <= n, or say so
    plain = memory.measure_chain(n, None, repeats=repeats)
    results = {}
    slider = widgets.IntSlider(value=k, min=1, max=n, description='segments k',
                               continuous_update=False, style={'description_width': 'initial'},
                               layout=widgets.Layout(width='420px'))
    readout, plot = widgets.HTML(), _image(9.6)

    def measure(kk):
        if kk not in results:
            results[kk] = memory.measure_chain(n, kk, repeats=repeats)
        return results[kk]

    def draw(current, model):
        fig = _figure(9.6, 3.0)
        count, mem, tim = (fig.add_subplot(1, 3, i) for i in (1, 2, 3))
        ks = sorted(results)
        if model:       # (not before the slider moves: the curve would answer the lesson's prediction)
            grid = sorted(set(np.unique(np.geomspace(1, n, 80).astype(int))) | set(ks))
            count.plot(grid, [memory.peak_model(n, g) for g in grid], '--', color='grey', lw=1,
                       label='k + 2 + 2·(steps per segment)')
        panels = ((count, 'peak_nodes', 'peak nodes (counted)', 1),
                  (mem, 'peak_bytes', 'peak memory (kB, tracemalloc)', 1e3),
                  (tim, 'seconds', 'forward + backward (ms)', 1e-3))
        for ax, key, what, unit in panels:
            ax.plot(ks, [results[g][key] / unit for g in ks], 'o', color='#1f5fbf', label='checkpointed')
            ax.axhline(plain[key] / unit, color='#c0392b', lw=1, label='no checkpoints')
            ax.plot([current], [results[current][key] / unit], 'o', ms=12, mfc='none', color='black')
            ax.set_xscale('log')
            ax.set_xlabel('segments k')
            ax.set_title(what, fontsize=9)
            ax.set_ylim(0, 1.45 * max(plain[key], *(results[g][key] for g in ks)) / unit)
        count.legend(fontsize=7, loc='upper center', ncol=1, framealpha=0.9)
        plot.value = _png(fig)

    def show(change=None):
        kk = slider.value
        try:
            r = measure(kk)
        except Exception as err:          # (never an exception out of a slider callback)
            readout.value = _error_html(err)
            return
        sizes = memory.segment_sizes(n, kk)
        diff = abs(r['grad'] - plain['grad']) / abs(plain['grad'])
        readout.value = (
            f'<b>k = {kk}</b> segments of {max(sizes)}{"" if min(sizes) == max(sizes) else f" or {min(sizes)}"}'
            f' steps &nbsp;|&nbsp; nodes kept after forward: {r["nodes_kept"]} (plain {plain["nodes_kept"]})'
            f' &nbsp;|&nbsp; largest rebuilt segment: {r["largest_segment"]}'
            f' &nbsp;|&nbsp; <b>peak nodes: {r["peak_nodes"]}</b> (plain {plain["peak_nodes"]})<br>'
            f'peak memory {r["peak_bytes"] / 1e3:.1f} kB (plain {plain["peak_bytes"] / 1e3:.1f} kB)'
            f' &nbsp;|&nbsp; time {r["seconds"] * 1e3:.2f} ms (plain {plain["seconds"] * 1e3:.2f} ms)'
            f' &nbsp;|&nbsp; gradient {r["grad"]:.10g}, relative difference from plain {diff:.1e}')
        draw(kk, model=change is not None)

    for kk in sweep:
        measure(kk)
    show()
    slider.observe(show, names='value')
    return _panel([slider, readout, plot], slider=slider, readout=readout, plot=plot, output=plot,
                  results=results, plain=plain, n=n)


__all__.append('checkpoint_explorer')


# --- lesson 09 ---------------------------------------------------------------------------------
# Vanishing and exploding gradients: the gradient that reaches each layer of a deep MLP.
ACTIVATIONS_09 = ('tanh', 'sigmoid', 'relu')


def layer_grad_norms(depth=20, scale=1.0, activation='tanh', width=64, batch=32, seed=0):
    """||dL/dh_k|| for k = 1..depth: the gradient that reaches each layer's output h_k.

    The network is h_k = act(h_(k-1) W_k) (no biases), h_0 a batch of standard
    normal inputs, each W_k drawn from N(0, std²) with std = scale / sqrt(width)
    (scale 1 is Xavier/Glorot's std for a square layer, sqrt(2) He's), and
    L = sum of the last layer's outputs, so dL/dh_depth is all ones. Backward,
    each layer multiplies the gradient by W_k^T and by act'; the norms show
    whether that product shrinks (vanishes) or grows (explodes) with depth.
    Returns a list of `depth` floats, first layer first.
    """
    from .tensor import Tensor
    whole(depth, 'depth')
    scale = _real(scale, 'scale')
    if scale <= 0:
        raise ValueError(f'scale must be positive (the weights are N(0, (scale/sqrt(width))²)), got {scale:g}')
    if activation not in ACTIVATIONS_09:
        raise ValueError(f'activation must be one of {ACTIVATIONS_09}, got {activation!r}')
    for name, n in (('width', width), ('batch', batch)):
        whole(n, name)
    rng = np.random.default_rng(seed)
    h = Tensor(rng.standard_normal((batch, width)))
    std = scale / math.sqrt(width)
    outputs = []
    with np.errstate(over='ignore', invalid='ignore'):     # an exploding net may reach inf: shown as such
        for _ in range(int(depth)):
            w = Tensor(rng.standard_normal((width, width)) * std, requires_grad=True)
            h = getattr(h @ w, activation)()
            outputs.append(h)
        h.sum().backward()
        return [float(np.linalg.norm(t.grad)) for t in outputs]


def gradient_flow(depth=20, scale=1.0, activation='tanh', width=64, max_depth=50):
    """Sliders for depth, weight scale and activation; the per-layer gradient norms, live, on a log scale.

    `.norms` holds the last computed norms (first layer first), `.readout` says
    how far they spread (largest / smallest), `.plot` is the picture.
    """
    if activation not in ACTIVATIONS_09:
        raise ValueError(f'activation must be one of {ACTIVATIONS_09}, got {activation!r}')
    depth_w = widgets.IntSlider(value=depth, min=1, max=max_depth, description='depth',
                                continuous_update=False)
    scale_w = widgets.FloatSlider(value=scale, min=0.25, max=4.0, step=0.05, description='scale',
                                  readout_format='.2f', continuous_update=False)
    act_w = widgets.ToggleButtons(options=list(ACTIVATIONS_09), value=activation, description='activation')
    readout, plot = widgets.HTML(), _image(5.5)
    norms = []

    def show(change=None):
        try:
            result = layer_grad_norms(depth_w.value, scale_w.value, act_w.value, width=width)
        except Exception as err:
            readout.value = _error_html(err)
            return
        norms[:] = result
        finite = [v for v in result if math.isfinite(v) and v > 0]
        spread = max(finite) / min(finite) if finite else math.inf
        verdict = ('level: within a factor of 10' if spread <= 10 else
                   'vanishing: the first layers get far less' if result[0] < result[-1] else
                   'exploding: the first layers get far more')
        readout.value = (f'{act_w.value}, std = {scale_w.value:.2f}/√{width} = '
                         f'{scale_w.value / math.sqrt(width):.3f}: |dL/dh| from {result[0]:.3g} (layer 1) '
                         f'to {result[-1]:.3g} (layer {len(result)}); largest / smallest = '
                         f'<b>{spread:.3g}</b> ({verdict})')
        fig = _figure(5.5, 3.2)
        ax = fig.add_subplot()
        ref = result[-1]
        # at least four decades either side of the last layer: a level line looks level
        lo, hi = min(finite + [ref / 1e4]), max(finite + [ref * 1e4])
        ax.axhspan(ref / 10, ref * 10, color='#2e8b57', alpha=0.12, label='within 10x of the last layer')
        ax.semilogy(range(1, len(result) + 1), [v if v > 0 else np.nan for v in result], 'o-',
                    color='#c0392b', ms=3)
        ax.set_ylim(lo / 2, hi * 2)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=7, loc='lower right')
        ax.set_xlabel('layer k (input side on the left)')
        ax.set_ylabel('‖dL/dh_k‖')
        ax.set_title(f'{act_w.value}, scale {scale_w.value:.2f}, depth {depth_w.value}')
        plot.value = _png(fig)

    show()
    for w in (depth_w, scale_w, act_w):
        w.observe(show, names='value')
    return _panel([widgets.HBox([depth_w, scale_w]), act_w, readout, plot], depth=depth_w,
                  scale=scale_w, activation=act_w, readout=readout, plot=plot, output=plot, norms=norms)
