"""Differential fuzz: random programs over every row of ops.OPS, checked four ways.

Each program is straight-line Python over a few inputs, generated from the table
itself (a new row is fuzzed with no change here; each domain respected by guards
such as `abs(v) + 0.5` or by staying clear of its edge), with reused intermediate
nodes (fan-out, `v * v`, `v - v`) and Python control flow (`if a > b:`, `if a == b:`
on exactly equal values, `if v:`, `bool(...)`). A scalar program runs through

* `Value` (reverse mode), against
* `Dual` (forward mode, one pass per input),
* central differences of the plain-float program (Richardson-extrapolated, only
  where the forward values show no kink or branch boundary within the step),
* `Tensor`, vectorized: a branch-free program on a batch of nearby points with
  broadcasting shapes, a branching one on 0-d tensors, against `Value` point by point,
* PyTorch (float64), the same program in its dialect, when it is installed;

and every third program its second derivatives (`hessian`, also inside `no_grad()`,
against a Dual over a Dual, central differences of the gradient and PyTorch's
hessian) and `grad`, `value_and_grad`, `jacobian` in both modes. A tensor program
runs through `Tensor` on random broadcastable shapes with `sum/mean/max` over random
axis specs, matmul, transpose, reshape, indexing and (log) softmax, against central
differences entry by entry and PyTorch. (Tensor `==` is identity by design, so
tensor programs branch on `>` and `bool` of reductions only.)

Derandomized: CI runs fixed seeds (CI_N scalar and CI_N // 2 tensor programs); a
longer run takes other seeds: `pytest tests/test_fuzz.py --fuzz-long`, or
`AUTODIFF_FUZZ_N=50000` (and `AUTODIFF_FUZZ_SEED=` for the first seed). A failure
prints each failing program as a script to paste, with what disagreed, the rows
common to every program with a wrong first derivative (a wrong partial names itself
there) and `check_local_gradients` on the program's graph.
"""
import contextlib
import functools
import os
import random
import re

import numpy as np
import pytest

from autodiff_lite import Dual, Tensor, Value, grad, hessian, jacobian, no_grad, value_and_grad
from autodiff_lite.gradcheck import central_difference, check_local_gradients
from autodiff_lite.ops import OPS, apply

CI_N = 300              # scalar programs in CI (and CI_N // 2 tensor programs)
LONG_N = 20000          # with --fuzz-long (about 2 to 6 minutes on a shared machine)
LONG_SEED = 1_000_000   # the long run starts past the CI seeds

# Rows whose inputs are not all numbers cannot be fuzzed as numbers; each says why.
NOT_NUMERIC = {
    'checkpoint': 'its first input is the recipe (the function to run again), not a number',
}

# Tolerances. Central differences are Richardson-extrapolated from h and h/2 (error
# O(h^4) from truncation, about eps |f| / h from round-off, here ~1e-12 |f|); values are
# kept below BOUND and local partials below PARTIAL_BOUND, so errors of 1e-6 relative
# (plus 1e-7 (1 + |f|) absolute) are far above round-off yet far below what a wrong
# partial gives (an O(1) error in some entry).
H = 1e-4
RTOL, ATOL = 1e-6, 1e-7
# Value and Dual use the same partials, summed in different orders: round-off only.
SAME_RTOL, SAME_ATOL = 1e-9, 1e-11
# second derivatives: central differences of the gradient (one order less accurate)
H2_RTOL, H2_ATOL = 1e-5, 1e-6
BOUND, PARTIAL_BOUND = 30.0, 30.0


def _numeric_row(row):
    """True if the row's forward takes numbers (all built-in rows; see NOT_NUMERIC)."""
    if row.name in NOT_NUMERIC or row.surrogate:      # (a surrogate's partial is not a derivative)
        return False
    for args in ([0.7, 1.3], [0.7, 1.3, 0.4, 1.1], [0.7]):
        try:
            out = row.f(*(args if row.variadic else args[:row.arity]))
        except (TypeError, AttributeError):
            continue
        except (ArithmeticError, ValueError):
            return True
        return isinstance(out, (float, int))
    return False


# the table as it is when the tests are collected (rows other tests add at run time are theirs)
ROWS = [name for name, row in OPS.items() if _numeric_row(row)]
# Known bugs the fuzz found, kept out of the programs until fixed; each has an xfail(strict)
# test below, which starts failing (XPASS) the day the bug is fixed: then remove it here.
TENSOR_BUGS = {}     # rows the tensor programs leave out, each with why: none now
TENSOR_ROWS = [name for name in ROWS if name not in TENSOR_BUGS]
INFIX = {'+', '-', '*', '/', '**'}
CONSTANTS = [2.0, -1.5, 0.5, 3.0, 2, -1, 1.25]


def fuzz_n(config):
    n = os.environ.get('AUTODIFF_FUZZ_N')
    if n:
        return int(n)
    return LONG_N if config.getoption('--fuzz-long') else CI_N


def first_seed(config):
    s = os.environ.get('AUTODIFF_FUZZ_SEED')
    if s:
        return int(s)
    return LONG_SEED if config.getoption('--fuzz-long') or os.environ.get('AUTODIFF_FUZZ_N') else 0


# --- generating programs ------------------------------------------------------------
class Reject(Exception):
    """This candidate statement is out of range here: try another."""


class Program:
    """Lines of a function `f(x0, ...)` in two dialects (ours and PyTorch's), generated
    together with their values at one point, so every statement is valid there."""

    def __init__(self, seed, tensor):
        self.seed, self.tensor = seed, tensor
        self.lines, self.torch_lines = [], []
        self.rows = set()
        self.values = {}          # name -> value at the point (float, or numpy array)
        self.used = set()
        self.n = 0
        self.has_branch = False

    def fresh(self):
        self.n += 1
        return f'v{self.n}'

    def emit(self, text, torch_text=None, indent=1):
        self.lines.append('    ' * indent + text)
        self.torch_lines.append('    ' * indent + (text if torch_text is None else torch_text))

    def source(self, torch=False):
        args = ', '.join(f'x{i}' for i in range(self.n_inputs))
        body = self.torch_lines if torch else self.lines
        return f'def f({args}):\n' + '\n'.join(body) + '\n'

    def script(self):
        """A standalone reproducer: paste it into a notebook or a file."""
        pt = ', '.join(_array_src(self.point[i]) if self.tensor else repr(self.point[i])
                       for i in range(self.n_inputs))
        if self.tensor:
            call = (f'xs = [Tensor(a, requires_grad=True) for a in ({pt},)]\n'
                    'out = f(*xs); out.backward(); print([x.grad for x in xs])\n')
        else:
            call = (f'xs = [Value(a) for a in ({pt},)]\n'
                    'out = f(*xs); out.backward(); print([x.grad for x in xs])\n')
        return ('import numpy as np\nfrom autodiff_lite import Value, Dual, Tensor\n'
                'from autodiff_lite.ops import apply\n\n' + self.source() + '\n' + call)


def _array_src(a):
    a = np.asarray(a)
    return f'np.array({a.tolist()!r})' if a.ndim else f'np.array({float(a)!r})'


def _ok(v, bound=BOUND):
    a = np.asarray(v, dtype=float)
    return bool(np.all(np.isfinite(a)) and np.all(np.abs(a) <= bound))


def _shape(v):
    return np.shape(v)


def _broadcasts(*vs):
    try:
        np.broadcast_shapes(*(_shape(v) for v in vs))
        return True
    except ValueError:
        return False


def _row_statement(p, rng, name):
    """One application of row `name` to earlier variables (maybe guarded) or constants."""
    row = OPS[name]
    names = list(p.values)
    k = row.arity if row.arity is not None else rng.choice([2, 3, 4] if name != 'dot' else [2, 4, 6])
    args, srcs, consts = [], [], []
    for i in range(k):
        if k > 1 and rng.random() < 0.2 and not (i == k - 1 and all(consts)):
            c = rng.choice(CONSTANTS)
            args.append(c), srcs.append(repr(c)), consts.append(True)
            continue
        # fan-out: recent variables more often, and the same one twice is allowed
        pending = [x for x in names if x.startswith('x') and x not in p.used]
        if pending and rng.random() < 0.6:            # every input is read
            v = rng.choice(pending)
        else:
            v = names[-1] if rng.random() < 0.3 else rng.choice(names)
        p.used.add(v)
        val, src = p.values[v], v
        if row.domain and rng.random() < 0.75:      # guard: |v| + 0.5 is inside every domain so far
            val, src = abs(val) + 0.5, f'(abs({v}) + 0.5)'
        args.append(val), srcs.append(src), consts.append(False)
    if p.tensor and not _broadcasts(*args):
        raise Reject
    with np.errstate(all='raise'):
        try:
            out = row.f(*args)
            for i, c in enumerate(consts):           # the derivative must exist here too
                if not c and not _ok(row.partial(i, args, out), PARTIAL_BOUND):
                    raise Reject
            # and a row with a domain must not be near its edge (where higher derivatives
            # blow up: 0 ** 1.5 has a first derivative, not a second)
            for i, c in enumerate(consts):
                for d in ([-0.05, 0.05] if row.domain and not c else []):
                    near = list(args)
                    near[i] = near[i] + d
                    near_out = row.f(*near)
                    for j, cj in enumerate(consts):
                        if not cj:
                            row.partial(j, near, near_out)
        except (ArithmeticError, ValueError, FloatingPointError):
            raise Reject from None
    if isinstance(out, complex) or not _ok(out):
        raise Reject
    if p.tensor:
        out = np.asarray(out, dtype=float)
    if row.arity == 2 and row.symbol in INFIX and rng.random() < 0.7:
        text = f'{srcs[0]} {row.symbol} {srcs[1]}'
    elif name == 'neg' and rng.random() < 0.7:
        text = f'-{srcs[0]}'
    elif name == 'abs' and rng.random() < 0.7:
        text = f'abs({srcs[0]})'
    else:
        text = f"apply({name!r}, {', '.join(srcs)})"
    p.rows.add(name)
    return text, out, [s for s, c in zip(srcs, consts) if not c]


def _assign(p, text, out, torch_text=None, indent=1):
    t = p.fresh()
    p.emit(f'{t} = {text}', None if torch_text is None else f'{t} = {torch_text}', indent)
    p.values[t] = out
    return t


SHAPE_OPS = ['matmul', 'transpose', 'reshape', 'getitem', 'softmax', 'log_softmax']


def _shape_op(p, rng):
    """The tensor rules that move entries: @, transpose, reshape, indexing, (log) softmax."""
    names = list(p.values)
    v = rng.choice(names)
    a = np.asarray(p.values[v])
    nd = a.ndim
    kind = rng.choice(SHAPE_OPS)
    if kind == 'matmul':
        w = rng.choice(names)
        b = np.asarray(p.values[w])
        if nd == 0 or b.ndim == 0:
            raise Reject
        try:
            out = a @ b
        except ValueError:
            raise Reject from None
        text = torch_text = f'{v} @ {w}'
    elif kind == 'transpose':
        if nd < 2:
            raise Reject
        axes = tuple(rng.sample(range(nd), nd))
        out = a.transpose(axes)
        text, torch_text = f'{v}.transpose{axes!r}', f'{v}.permute{axes!r}'
    elif kind == 'reshape':
        shape = rng.choice([(-1,), (a.size, 1), (1, -1)])
        out = a.reshape(shape)
        text = torch_text = f'{v}.reshape{shape!r}'
    elif kind == 'getitem':
        if nd == 0:
            raise Reject
        index = rng.choice(['0', '-1', '1:', '::-1', '..., 0', '[0, 0]', '[-1, 0, 0]'])
        if index == '::-1':                  # (PyTorch has no negative steps: flip instead)
            torch_text = f'{v}.flip(0)'
        else:
            torch_text = f'{v}[{index}]'
        text = f'{v}[{index}]'
        out = eval(text, {v: a})
        if np.size(out) == 0:
            raise Reject
    else:
        if nd == 0:
            raise Reject
        axis = rng.randrange(-nd, nd)
        shifted = a - a.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        if kind == 'softmax':
            out = np.exp(out)
        text, torch_text = f'{v}.{kind}(axis={axis})', f'{v}.{kind}(dim={axis})'
    p.rows.add(kind)
    return _assign(p, text, np.asarray(out, dtype=float), torch_text)


def _reduction(p, rng):
    """v.sum / mean / max over a random axis spec, with or without keepdims."""
    v = rng.choice(list(p.values))
    a = np.asarray(p.values[v])
    nd = a.ndim
    method = rng.choice(['sum', 'mean', 'max'])
    keep = rng.random() < 0.4
    r = rng.random()
    if nd == 0:                     # a 0-d tensor takes axis 0 or -1 (its one entry), as PyTorch
        axis = rng.choice([None, 0, -1])
    elif r < 0.25:
        axis = None
    elif r < 0.65 or nd == 1:
        axis = rng.randrange(-nd, nd)
    else:
        axis = tuple(sorted(rng.sample(range(nd), rng.randint(1, nd))))
        axis = tuple(x - nd if rng.random() < 0.3 else x for x in axis)
    out = getattr(a, method)(axis=None if nd == 0 else axis, keepdims=keep)
    kw = []
    if axis is not None:
        kw.append(f'axis={axis!r}')
    if keep:
        kw.append('keepdims=True')
    text = f"{v}.{method}({', '.join(kw)})"
    dims = axis if axis is not None else (tuple(range(nd)) if keep else None)
    tmethod = 'amax' if method == 'max' else method
    tkw = ([f'dim={dims!r}'] if dims is not None else []) + (['keepdim=True'] if keep else [])
    if nd == 0 and keep:
        raise Reject
    p.rows.add(f'{method}(axis)')
    return _assign(p, text, np.asarray(out, dtype=float), f"{v}.{tmethod}({', '.join(tkw)})")


def _branch(p, rng):
    """`if ...:` with a statement on each side (both valid here; the point is away from
    the boundary, so the same side is taken at every point the differences look at)."""
    names = list(p.values)
    kind = rng.choice(['cmp', 'eq', 'truth'] if not p.tensor else ['cmp', 'truth'])
    if kind == 'cmp':
        a, b = rng.sample(names, 2) if len(names) > 1 else (names[0], None)
        if p.tensor:
            ra, rb = rng.choice(['sum', 'mean', 'max']), rng.choice(['sum', 'mean', 'max'])
            va = getattr(np.asarray(p.values[a]), ra)()
            vb = getattr(np.asarray(p.values[b or a]), rb)() * (0.5 if b is None else 1.0)
            lhs, rhs = f'{a}.{ra}()', (f'{b}.{rb}()' if b else f'0.5 * {a}.{rb}()')
        else:
            va = p.values[a]
            vb = p.values[b] if b else 0.25
            lhs, rhs = a, (b or '0.25')
        if abs(va - vb) < 1e-2:
            raise Reject
        op = rng.choice(['>', '<', '>=', '<='])
        cond = f'{lhs} {op} {rhs}'
        taken = {'>': va > vb, '<': va < vb, '>=': va >= vb, '<=': va <= vb}[op]
        pre = None
    elif kind == 'eq':               # exactly equal values in different nodes
        a = rng.choice(names)
        same = rng.choice([f'{a} + 0.0', f'{a} * 1.0', f'1.0 * {a}', f"apply('mul', {a}, 1.0)"])
        pre = _assign(p, same, p.values[a])
        if rng.random() < 0.7:
            cond, taken = f'{pre} == {a}', True
        else:
            cond, taken = f'{pre} != {a}', False
    else:                            # truth of an exact zero, or of a nonzero value
        a = rng.choice(names)
        if p.tensor:
            z = _assign(p, f'({a} - {a}).sum()', np.asarray(0.0))
            cond, taken = rng.choice([(f'bool({z})', False), (f'not {z}', True)])
        elif rng.random() < 0.5:
            z = _assign(p, rng.choice([f'{a} - {a}', f'{a} * 0.0']), 0.0)
            cond, taken = rng.choice([(z, False), (f'not {z}', True), (f'bool({z})', False)])
        else:
            if abs(p.values[a]) < 1e-2:
                raise Reject
            cond, taken = rng.choice([(f'bool({a})', True), (a, True)])
    # both branches assign the same new name
    target = f'v{p.n + 1}'
    stmts = []
    for _ in range(2):
        for _attempt in range(30):
            try:
                text, out, _ = _row_statement(p, rng, rng.choice(TENSOR_ROWS if p.tensor else ROWS))
                break
            except Reject:
                continue
        else:
            raise Reject
        stmts.append((text, out))
    p.n += 1
    p.emit(f'if {cond}:', None)
    p.emit(f'{target} = {stmts[0][0]}', None, 2)
    p.emit('else:', None)
    p.emit(f'{target} = {stmts[1][0]}', None, 2)
    p.values[target] = stmts[0][1] if taken else stmts[1][1]
    p.has_branch = True


def _input_shapes(rng):
    """1 to 3 shapes that broadcast together: a base shape, some leading axes dropped, some
    axes set to 1."""
    nd = rng.choice([0, 1, 2, 2, 3, 3])
    base = [rng.randint(1, 4) for _ in range(nd)]
    shapes = []
    for _ in range(rng.randint(1, 3)):
        drop = rng.randint(0, nd) if rng.random() < 0.3 else 0
        shapes.append(tuple(1 if rng.random() < 0.25 else d for d in base[drop:]))
    return shapes


def make_program(seed, tensor=False):
    """The program for `seed` (scalar or tensor): the same program for the same seed."""
    rng = random.Random(seed * 2 + tensor)
    while True:
        p = Program(seed, tensor)
        if tensor:
            shapes = _input_shapes(rng)
            p.point = [np.array([rng.uniform(-2, 2) for _ in range(int(np.prod(s)))]).reshape(s)
                       for s in shapes]
        else:
            p.point = [rng.uniform(-2, 2) for _ in range(rng.randint(1, 4))]
        p.n_inputs = len(p.point)
        for i, x in enumerate(p.point):
            p.values[f'x{i}'] = x
        n_stmts = rng.randint(3, 10)
        tries = 0
        while p.n < n_stmts and tries < 300:
            tries += 1
            r = rng.random()
            try:
                if r < 0.15:
                    _branch(p, rng)
                elif tensor and r < 0.3:
                    _reduction(p, rng)
                elif tensor and r < 0.42:
                    _shape_op(p, rng)
                else:
                    # every row equally often, whatever the table holds
                    text, out, _ = _row_statement(p, rng, rng.choice(TENSOR_ROWS if tensor else ROWS))
                    _assign(p, text, out)
            except Reject:
                continue
        # the output: every variable nothing read yet, added up (so nothing is dead)
        reads = set()
        for line in p.lines:
            reads |= set(re.findall(r'\bv\d+\b', line.split(' = ', 1)[-1] if ' = ' in line else line))
        unread = [v for v in p.values if v.startswith('v') and v not in reads]
        sinks = unread or [f'v{p.n}']
        if tensor:
            out = ' + '.join(f'({v} * {v}).sum()' for v in sinks)
        else:
            out = ' + '.join(sinks)
        p.emit(f'return {out}')
        return p


# --- running programs ---------------------------------------------------------------
def _compile(p, torch=False):
    ns = {'apply': _torch_apply if torch else apply, 'np': np}
    exec(p.source(torch), ns)
    return ns['f']


_TORCH = {}


def _torch_apply(name, *xs):
    import torch
    xs = [x if isinstance(x, torch.Tensor) else torch.tensor(float(x), dtype=torch.float64) for x in xs]
    if name == 'sum':
        return sum(xs[1:], xs[0])
    if name == 'dot':
        n = len(xs) // 2
        return sum((a * b for a, b in zip(xs[1:n], xs[n + 1:])), xs[0] * xs[n])
    for space in (torch, torch.special, torch.nn.functional):   # torch's names are the rows' names
        if hasattr(space, name):
            return getattr(space, name)(*xs)
    raise NoTorchOp(name)


class NoTorchOp(Exception):
    """A row PyTorch has no function of the same name for: its programs skip the comparison."""


def _close(got, want, rtol, atol):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    return bool(np.all(np.abs(got - want) <= atol + rtol * np.abs(want)))


def _perturbed(xs, i, k, h):
    """xs with entry k of input i moved by h."""
    ys = [np.array(x, dtype=float) if np.ndim(x) else float(x) for x in xs]
    if np.ndim(ys[i]):
        ys[i].flat[k] += h
    else:
        ys[i] += h
    return ys


def central(fx, xs, i, k, tol, h=H):
    """(Richardson) central difference of fx in entry k of input i, or None where fx is not
    smooth enough on [x - h, x + h] (a kink of relu/abs, a branch boundary, a max tie, relu
    squared just off 0): the one-sided slopes disagree, or the steps h and h/2 disagree by
    a fair part of `tol(estimate)`, the tolerance the estimate is compared with (for a
    smooth f they differ by about 1e-9 times its third derivative). Uses only forward
    values, never autodiff."""
    @functools.lru_cache(maxsize=None)          # (f at ±h is also the one-sided slopes' f)
    def along(t):                                # fx with entry k of input i moved by t
        return fx(_perturbed(xs, i, k, t))
    d1, d2 = central_difference(along, [0.0], 0, h), central_difference(along, [0.0], 0, h / 2)
    right, left = (along(h) - along(0.0)) / h, (along(0.0) - along(-h)) / h
    if abs(right - left) > 1e-2 * (1 + abs(d1)) or abs(d1 - d2) > 0.3 * tol(d1):
        return None
    return (4 * d2 - d1) / 3


class Failures:
    def __init__(self):
        self.items = []
        self.compared = self.not_smooth = 0

    def counted(self, num):
        """True if there is a central difference to compare with (counted either way)."""
        if num is None:
            self.not_smooth += 1
            return False
        self.compared += 1
        return True

    def add(self, p, what):
        self.items.append((p, what))

    def report(self, limit=3):
        if not self.items:
            return ''
        progs = {}
        for p, what in self.items:
            progs.setdefault((p.seed, p.tensor), (p, []))[1].append(what)
        # a wrong partial is in every program with a wrong first derivative (second derivatives
        # also go through the rows the partials use: log's 1 / a is a 'div')
        first = [p.rows for p, whats in progs.values() if any(not w.startswith('d2/') for w in whats)]
        common = set.intersection(*(first or [p.rows for p, _ in progs.values()]))
        counts = {}
        for p, _ in progs.values():
            for r in p.rows:
                counts[r] = counts.get(r, 0) + 1
        top = sorted(counts, key=counts.get, reverse=True)[:5]
        out = [f'{len(progs)} failing programs ({len(first)} with a wrong first derivative); '
               f'rows used by every one of those: {sorted(common) or "(none in common)"}; '
               'most used in the failing programs: ' + ', '.join(f'{r} ({counts[r]})' for r in top)]
        for p, whats in list(progs.values())[:limit]:
            out.append(f"\n--- seed {p.seed} ({'tensor' if p.tensor else 'scalar'}), rows "
                       f"{sorted(p.rows)}:\n" + '\n'.join(whats[:4]) + '\n' + p.script())
            if not p.tensor:
                try:
                    xs = [Value(x) for x in p.point]
                    wrong = [c for c in check_local_gradients(_compile(p)(*xs)) if not c.ok]
                    if wrong:
                        out.append('check_local_gradients: ' + '; '.join(map(repr, wrong)))
                except Exception:
                    pass
        return '\n'.join(out)


def check_scalar(p, fails, second=False):
    """Value against Dual and central differences (and second derivatives, the functional API)."""
    f = _compile(p)
    xs = p.point
    n = len(xs)
    try:
        leaves = [Value(x) for x in xs]
        out = f(*leaves)
        want = f(*xs)
        if not isinstance(out, Value) or out.data != want:
            fails.add(p, f'Value forward {getattr(out, "data", out)!r} != float forward {want!r}')
            return
        out.backward()
        g = [leaf.grad for leaf in leaves]
        tangents = []
        for i in range(n):
            d = f(*[Dual(x, float(k == i)) for k, x in enumerate(xs)])
            tangents.append(d.tangent if isinstance(d, Dual) else 0.0)
    except Exception as err:
        fails.add(p, f'raised {type(err).__name__}: {err}')
        return
    for i in range(n):
        if not _close(g[i], tangents[i], SAME_RTOL, SAME_ATOL * (1 + abs(want))):
            fails.add(p, f'x{i}: Value grad {g[i]!r} != Dual tangent {tangents[i]!r}')
        num = central(lambda ys: f(*ys), xs, i, 0, lambda d: ATOL * (1 + abs(want)) + RTOL * abs(d))
        if fails.counted(num) and not _close(g[i], num, RTOL, ATOL * (1 + abs(want))):
            fails.add(p, f'x{i}: Value grad {g[i]!r}, central differences {num!r}')
    if second:
        check_second(p, f, want, fails)
        check_functional(p, f, g, want, fails)


def check_scalar_torch(p, fails, torch, second=False):
    """Value (and hessian) against PyTorch, float64, the same program in its dialect."""
    f, tf = _compile(p), _compile(p, torch=True)
    xs, n = p.point, len(p.point)
    try:
        leaves = [Value(x) for x in xs]
        out = f(*leaves)
        out.backward()
        want, g = out.data, [leaf.grad for leaf in leaves]
        Hm = np.asarray(hessian(f)(*xs), dtype=float).reshape(n, n) if second else None
    except Exception as err:
        fails.add(p, f'raised {type(err).__name__}: {err}')
        return
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    try:
        tout = tf(*ts)
    except NoTorchOp:
        return
    if not _close(want, tout.item(), 1e-12, 1e-12):
        fails.add(p, f'forward {want!r}, PyTorch {tout.item()!r}')
        return
    tg = torch.autograd.grad(tout, ts, allow_unused=True) if tout.requires_grad else [None] * n
    for i in range(n):
        t = 0.0 if tg[i] is None else tg[i].item()
        if not _close(g[i], t, 1e-9, 1e-10 * (1 + abs(want))):
            fails.add(p, f'x{i}: Value grad {g[i]!r}, PyTorch {t!r}')
    if second:
        TH = torch.autograd.functional.hessian(
            lambda *ts: tf(*ts), tuple(torch.tensor(x, dtype=torch.float64) for x in xs))
        for i in range(n):
            for j in range(n):
                t = TH[i][j].item()
                if not _close(Hm[i, j], t, 1e-8, 1e-9 * (1 + abs(want))):
                    fails.add(p, f'd2/dx{i}dx{j}: hessian {Hm[i, j]!r}, PyTorch {t!r}')


BATCH_SHAPES = [(), (3,), (1, 3), (2, 1), (2, 3)]


def check_vectorized(p, fails, rng):
    """The scalar program on Tensors, against Value at every point, with the same partials:
    a branch-free program on a batch of nearby points with broadcasting shapes (an input's
    gradient is the sum over the points it was broadcast to); a branching one on 0-d
    tensors (except `==`/`!=`, which compare Tensors by identity, by design)."""
    if p.rows & set(TENSOR_BUGS):
        return
    f = _compile(p)
    if p.has_branch:
        if any('==' in line or '!=' in line for line in p.lines):
            return
        arrays = [np.array(x) for x in p.point]
    else:
        arrays = [x + rng.uniform(-1e-3, 1e-3, BATCH_SHAPES[rng.integers(len(BATCH_SHAPES))]) for x in p.point]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    try:
        leaves = [Tensor(a, requires_grad=True) for a in arrays]
        out = f(*leaves)
        out.sum().backward()
        got = [np.zeros(a.shape) if t.grad is None else t.grad for a, t in zip(arrays, leaves)]
    except Exception as err:
        fails.add(p, f'vectorized ({[a.shape for a in arrays]}): raised {type(err).__name__}: {err}')
        return
    want = [np.zeros(a.shape) for a in arrays]
    values = np.zeros(shape)
    for idx in np.ndindex(*shape):
        ix = [np.broadcast_to(np.arange(a.size).reshape(a.shape), shape)[idx] for a in arrays]
        vs = [Value(float(a.flat[i])) for a, i in zip(arrays, ix)]
        o = f(*vs)
        values[idx] = o.data
        if o.requires_grad:
            o.backward()
        for w, i, v in zip(want, ix, vs):
            w.flat[i] += v.grad
    # an input f does not read can make the grid larger than f's output: each output entry
    # then stands for several grid points
    want = [w * (np.size(out.data) / values.size) for w in want]
    scale = 1 + np.abs(values).max()
    if not _close(np.broadcast_to(out.data, shape), values, 1e-12, 1e-13 * scale):
        fails.add(p, f'vectorized ({[a.shape for a in arrays]}): Tensor forward {out.data!r}, '
                     f'Value forward {values!r}')
    for i in range(len(arrays)):
        if not _close(got[i], want[i], SAME_RTOL, SAME_ATOL * scale):
            fails.add(p, f'x{i} vectorized ({[a.shape for a in arrays]}): Tensor grad {got[i]!r}, '
                         f'Value grads summed {want[i]!r}')


def _grad_at(f, ys):
    leaves = [Value(y) for y in ys]
    out = f(*leaves)
    if isinstance(out, Value) and out.requires_grad:
        out.backward()
    return [leaf.grad for leaf in leaves]


def check_functional(p, f, g, want, fails):
    """grad, value_and_grad and jacobian in both modes give the gradient Value.backward gave,
    also inside no_grad() (a transform traces whatever the mode)."""
    xs, n = p.point, len(p.point)
    every = tuple(range(n))
    for quiet in (False, True):
        where = ' under no_grad()' if quiet else ''
        try:
            with (no_grad() if quiet else contextlib.nullcontext()):
                v, gs = value_and_grad(f, argnums=every)(*xs)
                got = {'value_and_grad': gs, 'grad': grad(f, argnums=every)(*xs),
                       **{f'jacobian({m})': np.ravel(jacobian(f, mode=m)(*xs))
                          for m in ('forward', 'reverse')}}
        except Exception as err:
            fails.add(p, f'functional{where} raised {type(err).__name__}: {err}')
            return
        if v != want:
            fails.add(p, f'value_and_grad{where}: value {v!r}, forward {want!r}')
        for name, got_g in got.items():
            if not _close(np.ravel(got_g), g, SAME_RTOL, SAME_ATOL * (1 + abs(want))):
                fails.add(p, f'{name}{where}: {list(np.ravel(got_g))}, Value.backward {g}')


def check_second(p, f, want, fails):
    """hessian (reverse over reverse) and a Dual over a Dual, against central differences of
    the gradient (each row of H is the derivative of one partial)."""
    xs = p.point
    n = len(xs)
    try:
        Hm = np.asarray(hessian(f)(*xs), dtype=float).reshape(n, n)
        with no_grad():                     # (create_graph inside no_grad once built nothing)
            Hq = np.asarray(hessian(f)(*xs), dtype=float).reshape(n, n)
    except Exception as err:
        fails.add(p, f'hessian raised {type(err).__name__}: {err}')
        return
    if not _close(Hq, Hm, SAME_RTOL, SAME_ATOL * (1 + abs(want))):
        fails.add(p, f'hessian under no_grad() {Hq.tolist()}, outside {Hm.tolist()}')
    for i in range(n):
        for j in range(n):
            try:
                d = f(*[Dual(Dual(x, float(k == i)), Dual(float(k == j), 0.0)) for k, x in enumerate(xs)])
                dd = d.tangent.tangent if isinstance(d, Dual) and isinstance(d.tangent, Dual) else 0.0
            except Exception as err:
                fails.add(p, f'Dual over Dual raised {type(err).__name__}: {err}')
                return
            if not _close(dd, Hm[i, j], 1e-8, 1e-9 * (1 + abs(want))):
                fails.add(p, f'd2/dx{i}dx{j}: hessian {Hm[i, j]!r}, Dual over Dual {dd!r}')
            num = central(lambda ys: _grad_at(f, ys)[i], xs, j, 0,
                          lambda d: H2_ATOL * (1 + abs(want)) + H2_RTOL * abs(d))
            if fails.counted(num) and not _close(Hm[i, j], num, H2_RTOL, H2_ATOL * (1 + abs(want))):
                fails.add(p, f'd2/dx{i}dx{j}: hessian {Hm[i, j]!r}, central differences of the '
                             f'gradient {num!r}')


def _tensor_grads(p, f, fails):
    try:
        leaves = [Tensor(x, requires_grad=True) for x in p.point]
        out = f(*leaves)
        out.backward()
        return float(out.data), [np.zeros(np.shape(x)) if leaf.grad is None else leaf.grad
                                 for x, leaf in zip(p.point, leaves)]
    except Exception as err:
        fails.add(p, f'raised {type(err).__name__}: {err}')
        return None, None


def check_tensor(p, fails):
    """Tensor gradients against central differences, entry by entry."""
    f = _compile(p)
    xs = p.point

    def fx(arrays):
        return float(f(*[Tensor(a) for a in arrays]).data)
    want, g = _tensor_grads(p, f, fails)
    if g is None:
        return
    for i, x in enumerate(xs):
        if np.shape(g[i]) != np.shape(x):
            fails.add(p, f'x{i}: grad shape {np.shape(g[i])}, input shape {np.shape(x)}')
            continue
        for k in range(int(np.size(x))):
            num = central(fx, xs, i, k, lambda d: ATOL * (1 + abs(want)) + RTOL * abs(d))
            got = np.ravel(g[i])[k]
            if fails.counted(num) and not _close(got, num, RTOL, ATOL * (1 + abs(want))):
                fails.add(p, f'x{i}[{k}]: Tensor grad {got!r}, central differences {num!r}')


def check_tensor_torch(p, fails, torch):
    """Tensor forward and gradients against PyTorch (float64), the program in its dialect."""
    want, g = _tensor_grads(p, _compile(p), fails)
    if g is None:
        return
    xs = p.point
    ts = [torch.tensor(np.asarray(x), dtype=torch.float64, requires_grad=True) for x in xs]
    try:
        tout = _compile(p, torch=True)(*ts)
    except NoTorchOp:
        return
    if not _close(want, tout.item(), 1e-10, 1e-10):
        fails.add(p, f'forward {want!r}, PyTorch {tout.item()!r}')
        return
    tg = torch.autograd.grad(tout, ts, allow_unused=True) if tout.requires_grad else [None] * len(ts)
    for i in range(len(xs)):
        t = np.zeros(np.shape(xs[i])) if tg[i] is None else tg[i].numpy()
        if not _close(g[i], t, 1e-9, 1e-10 * (1 + abs(want))):
            fails.add(p, f'x{i}: Tensor grad {g[i]!r}, PyTorch {t!r}')


# --- the tests --------------------------------------------------------------------------
def _enough_compared(fails):
    # a fuzz that skips its comparisons cannot fail: only points near kinks may be skipped
    total = fails.compared + fails.not_smooth
    assert fails.not_smooth <= 0.05 * total, \
        f'{fails.not_smooth} of {total} derivatives had no central difference (not smooth there)'


def test_every_row_is_fuzzed_or_says_why():
    """A row the fuzz cannot drive must be named in NOT_NUMERIC with a reason; and every
    fuzzable row appears in the CI programs (so a new row is covered with no change here)."""
    skipped = [n for n, row in _COLLECTED.items() if n not in ROWS and not row.surrogate
               and n not in NOT_NUMERIC]
    assert not skipped, f'rows the fuzz cannot run on numbers: {skipped}; add them to NOT_NUMERIC'
    seen, seen_t = set(), set()
    for seed in range(CI_N // 2):
        seen |= make_program(seed).rows
        seen_t |= make_program(seed, tensor=True).rows
    assert set(ROWS) <= seen, f'rows no CI scalar program uses: {set(ROWS) - seen}'
    want_t = set(TENSOR_ROWS) | {'sum(axis)', 'mean(axis)', 'max(axis)'} | set(SHAPE_OPS)
    assert want_t <= seen_t, f'rows no CI tensor program uses: {want_t - seen_t}'


_COLLECTED = dict(OPS)


@pytest.mark.parametrize('name', ['sum', 'dot'])
def test_variadic_rows_on_tensors(name):
    """The variadic OPS rows on broadcast shapes (found by this fuzzer: the tensor walk once
    took row `sum` for the RULES reduction of that name, and called `dot`'s one partials
    function once per input): Tensor gradients against central differences of the forward."""
    rng = np.random.default_rng(0)
    xs = [rng.uniform(-2, 2, s) for s in [(2, 3), (3,), (2, 1), ()]]

    def f(*ts):
        out = apply(name, *ts)
        return (out * out).sum()
    leaves = [Tensor(x, requires_grad=True) for x in xs]
    f(*leaves).backward()
    for i, (x, leaf) in enumerate(zip(xs, leaves)):
        for k in range(x.size):
            num = central(lambda arrays: float(f(*[Tensor(a) for a in arrays]).data), xs, i, k,
                          lambda d: 1e-6 + RTOL * abs(d))
            assert np.ravel(leaf.grad)[k] == pytest.approx(num, rel=RTOL, abs=1e-6), (name, i, k)


def test_programs_are_derandomized():
    assert make_program(7).source() == make_program(7).source()
    assert make_program(7, tensor=True).source() == make_program(7, tensor=True).source()
    assert make_program(7).source() != make_program(8).source()


def test_fuzz_scalar_programs(request):
    n, start = fuzz_n(request.config), first_seed(request.config)
    fails = Failures()
    branches = 0
    for seed in range(start, start + n):
        p = make_program(seed)
        branches += p.has_branch
        check_scalar(p, fails, second=(seed % 3 == 0))
        check_vectorized(p, fails, np.random.default_rng(seed))
    assert branches > n // 4, f'only {branches} of {n} programs branch'
    assert not fails.items, fails.report()
    _enough_compared(fails)


def test_fuzz_scalar_programs_against_pytorch(request):
    torch = pytest.importorskip('torch', reason='PyTorch is not installed: the same programs '
                                'are still checked against Dual and central differences')
    n, start = fuzz_n(request.config), first_seed(request.config)
    fails = Failures()
    for seed in range(start, start + n):
        check_scalar_torch(make_program(seed), fails, torch, second=(seed % 3 == 0))
    assert not fails.items, fails.report()


def test_fuzz_tensor_programs(request):
    n, start = fuzz_n(request.config) // 2, first_seed(request.config)
    fails = Failures()
    for seed in range(start, start + n):
        check_tensor(make_program(seed, tensor=True), fails)
    assert not fails.items, fails.report()
    _enough_compared(fails)


def test_fuzz_tensor_programs_against_pytorch(request):
    torch = pytest.importorskip('torch', reason='PyTorch is not installed: the same programs '
                                'are still checked against central differences')
    n, start = fuzz_n(request.config) // 2, first_seed(request.config)
    fails = Failures()
    for seed in range(start, start + n):
        check_tensor_torch(make_program(seed, tensor=True), fails, torch)
    assert not fails.items, fails.report()
