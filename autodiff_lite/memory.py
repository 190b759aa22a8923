"""What reverse mode keeps for its backward pass, read off the tables and measured from outside.

Lesson 08's measurements. The engine's own helpers live in `autodiff_lite.checkpoint`
(`live_nodes(root)`, `saved_bytes(root)`, `peak_bytes(fn)`); this module adds:

* `reads(op)`: which of an op's inputs and its output the backward pass reads, found
  in the row's partials themselves (`reads('mul') == ('a', 'b')`, `reads('exp') == ('out',)`);
* `needed_bytes(root)`: the bytes of a tensor graph that its backward pass reads by
  those rows, to set beside `saved_bytes(root)`, what the engine keeps;
* `chain(n, k)` and `measure_chain(n, k)`: the lesson's chain of n steps
  v -> sin(1.01 v), plain or in k checkpointed segments, with its counted nodes, peak
  bytes and time. Nothing here adds work to a node or to the engine's walks: counts are
  taken with `topo_sort` after the fact, bytes with tracemalloc around a whole call.
"""
import dis

import numpy as np

from .checkpoint import checkpoint, live_nodes, peak_bytes
from .course import best_time
from .errors import whole
from .graph import topo_sort
from .ops import OPS
from .tensor_rules import RULES
from .value import Value

__all__ = ['reads', 'reads_table', 'needed_bytes', 'segment_sizes', 'step', 'chain',
           'measure_chain', 'peak_model', 'best_k', 'STEP_OPS']

_LOADS = {'LOAD_FAST', 'LOAD_DEREF', 'LOAD_CLOSURE', 'LOAD_FAST_CHECK', 'LOAD_FAST_AND_CLEAR',
          'LOAD_FAST_LOAD_FAST'}


_SHAPE_ONLY = {'shape', 'ndim', 'size', 'dtype'}   # what numpy knows without the numbers


def _loaded_names(code):
    """Every local or free name a function's code (and the code nested in it) loads for its
    numbers: a name used only as `a.shape` (or ndim, size, dtype) does not count."""
    names = set()
    instructions = list(dis.get_instructions(code))
    for ins, after in zip(instructions, instructions[1:] + [None]):
        if ins.opname in _LOADS:
            if after is not None and after.opname == 'LOAD_ATTR' and after.argval in _SHAPE_ONLY:
                continue
            arg = ins.argval
            names.update(arg if isinstance(arg, tuple) else (arg,))
    for const in code.co_consts:
        if hasattr(const, 'co_code'):            # a lambda or comprehension inside
            names |= _loaded_names(const)
    return names


def _read_positions(op, tensor=False):
    """(indices of the inputs read, whether the output is read, the inputs' names) for row op
    (a tensor graph looks in RULES first, as the tensor walk does: `sum` is in both)."""
    if not isinstance(op, str):
        raise TypeError(f'reads(op) takes the name of a row, e.g. reads("mul"), got {op!r}')
    if op in OPS and not (tensor and op in RULES):
        row, fns = OPS[op], OPS[op].partials      # partial(*inputs, out)
    elif op in RULES:
        row, fns = RULES[op], RULES[op].vjps      # vjp(grad_out, out, *inputs): grad_out comes anyway
    else:
        raise KeyError(f'reads({op!r}): no row of that name in OPS or RULES; the rows are '
                       f'{", ".join(sorted(OPS))} (scalar) and {", ".join(sorted(RULES))} (tensor)')
    if row.variadic:
        raise ValueError(f"reads({op!r}): a variadic row's partials take all inputs as one list, "
                         'so which of them it reads cannot be told apart: read its row in ops.py')
    inputs, out_read, names = set(), False, None
    for fn in fns:
        code = fn.__code__
        params = code.co_varnames[:code.co_argcount - len(fn.__defaults__ or ())]   # not ctx (axis=...)
        if row is OPS.get(op):
            ins, out = params[:-1], params[-1]
        else:
            ins, out = params[2:], params[1]
        names = names or ins
        loaded = _loaded_names(code)
        inputs |= {i for i, name in enumerate(ins) if name in loaded}
        out_read = out_read or out in loaded
    return tuple(sorted(inputs)), out_read, names


def reads(op):
    """The inputs and output the backward pass of row `op` reads, by name, in argument order.

    Found in the row itself (the code of its partials, or of a tensor rule's VJPs):
    `reads('add') == ()`, `reads('mul') == ('a', 'b')`, `reads('tanh') == ('out',)`,
    `reads('matmul') == ('a', 'b')`. What is read must be kept from the forward pass
    until backward reaches the node; what is not read could be freed at once.
    """
    inputs, out_read, names = _read_positions(op)
    return tuple(names[i] for i in inputs) + (('out',) if out_read else ())


def reads_table(names=None):
    """[(op, number of inputs, what its backward reads)] for the scalar rows (not the variadic ones)."""
    names = names or [n for n, row in OPS.items() if not row.variadic]
    return [(n, OPS[n].arity, reads(n)) for n in names]


def needed_bytes(root):
    """Bytes of the arrays a tensor graph's backward pass reads, by `reads` of each row, each
    array once. The data of leaves (inputs, parameters) is not counted (it exists anyway), as
    in `checkpoint.saved_bytes(root)`, which counts what the engine keeps: set them side by side."""
    order = topo_sort(root)
    leaves = {id(n.data) for n in order if not n._prev}
    seen, total = set(), 0
    for node in order:
        if not node._prev:
            continue
        row = (RULES.get(node._op) if node._ctx is not None else None) or OPS[node._op]
        if row.variadic:                          # (concatenate, a checkpoint: every input)
            arrays = list(node._saved)
        else:
            inputs, out_read, _ = _read_positions(node._op, tensor=True)
            arrays = [node._saved[i] for i in inputs] + ([node.data] if out_read else [])
        for a in arrays:
            if isinstance(a, np.ndarray) and id(a) not in leaves and id(a) not in seen:
                seen.add(id(a))
                total += a.nbytes
    return total


# --- the lesson's chain -------------------------------------------------------------------
STEP_OPS = 2          # nodes one step adds to a graph: a mul and a sin


def step(v):
    """One step of the lesson's chain: v -> sin(1.01 v) (two ops)."""
    return (v * 1.01).sin()


def segment_sizes(n, k):
    """n steps cut into k segments as even as can be, the longer ones first: (3, 3, 2, 2) for 10, 4."""
    n, k = whole(n, 'n (the number of steps)'), whole(k, 'k (the number of segments)')
    if k > n:
        raise ValueError(f'k = {k} segments for n = {n} steps: a segment needs at least one step, '
                         f'take k <= n')
    return [n // k + (i < n % k) for i in range(k)]


def _steps(m, census):
    def segment(v):
        for _ in range(m):
            v = step(v)
        if census is not None:                   # the segment's whole graph is alive here
            census.append(live_nodes(v) if isinstance(v, Value) else 0)
        return v
    return segment


def chain(x, n, k=None, census=None):
    """n steps from x: plain (k None), or in k segments each run through `checkpoint`.

    `census`, a list, gets the node count of each segment's graph as it ends (the forward
    pass's traced run and each recomputation alike): counted after the fact, not per node."""
    if k is None:
        return _steps(whole(n, 'n (the number of steps)'), census)(x)
    for m in segment_sizes(n, k):
        x = checkpoint(_steps(m, census), x)
    return x


def peak_model(n, k=None):
    """The nodes alive at the peak, counted as the lesson does: plain, the leaf and 2 per step;
    checkpointed, the leaf and k segment nodes, plus the largest segment's fresh start and
    its 2 per step during its recomputation."""
    n = whole(n, 'n (the number of steps)')
    if k is None:
        return 1 + STEP_OPS * n
    k = whole(k, 'k (the number of segments)')
    if k > n:
        segment_sizes(n, k)                      # (says why)
    return 1 + k + 1 + STEP_OPS * -(-n // k)     # the longest segment has ceil(n / k) steps


def measure_chain(n, k=None, x=0.5, repeats=3):
    """Forward and backward of the chain, measured: a dict with
    nodes_kept (the graph after the forward pass), largest_segment (nodes of the largest
    recomputed graph), peak_nodes (their sum: what is alive when that segment is rebuilt),
    peak_bytes (tracemalloc, forward + backward), seconds (best CPU time of `repeats`),
    y and grad (dy/dx)."""
    def run(census=None):
        leaf = Value(x)
        y = chain(leaf, n, k, census)
        kept = live_nodes(y)
        y.backward()
        return kept, y.data, leaf.grad

    census = []
    kept, y, g = run(census)
    largest = max(census) if k is not None else 0
    _, peak = peak_bytes(run)
    seconds = best_time(run, repeats)
    return {'n': n, 'k': k, 'nodes_kept': kept, 'largest_segment': largest,
            'peak_nodes': kept + largest, 'peak_bytes': peak, 'seconds': seconds,
            'y': y, 'grad': g}


def best_k(n):
    """The k of the fewest peak nodes by `peak_model` (the smallest such k)."""
    n = whole(n, 'n (the number of steps)')
    return min(range(1, n + 1), key=lambda k: (peak_model(n, k), k))

