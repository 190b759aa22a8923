"""Functions in, functions out: `grad`, `value_and_grad`, `jvp`, `vjp`, `jacobian`, `hessian`, `hvp`.

Every function here takes plain Python floats and returns plain floats (or a
numpy array for `jacobian`); the `Value` / `Dual` tracing happens inside. They
compose: called inside another transform (or on its nodes), a transform answers
with nodes joined to the outer computation, so grad(grad(f)), jvp(grad(f)) and
jacobian(grad(f)) work. `gradients` is the reverse pass they share: the
gradients of chosen inputs, touching no `.grad`.
"""
import contextlib
import numbers

import numpy as np

from . import errors
from .ops import plain
from .dual import Dual
from .graph import topo_sort
from .modes import Tracing, enable_grad
from .tensor import Tensor, seed_of, walk_arrays
from .value import Value, walk, walk_numbers

__all__ = ['grad', 'value_and_grad', 'jvp', 'vjp', 'jacobian', 'hessian', 'hvp', 'gradients']

_MODES = ('reverse', 'forward')


def _argnums_tuple(argnums, nargs):
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    for i in nums:
        if not isinstance(i, int) or not -nargs <= i < nargs:
            raise ValueError(f'argnums={argnums!r} does not fit a call with {nargs} positional arguments')
    return single, tuple(i % nargs for i in nums)


@contextlib.contextmanager
def _tracing(leaves=()):
    """While f runs on Values (`leaves`) or Duals: graphs are built even inside no_grad()
    (as torch.func.grad does), and float() of a node that carries a derivative raises
    instead of dropping it."""
    Tracing.inputs.append(set(leaves))
    try:
        with enable_grad():
            yield
    finally:
        Tracing.inputs.pop()


def _packed(args):
    """True for f(v) called with one sequence (a list, tuple or array) of numbers."""
    return len(args) == 1 and isinstance(args[0], (list, tuple, np.ndarray)) and np.ndim(args[0]) >= 1


class _Flat:
    """f's inputs as one flat list of floats, and f as a function of that list.

    f(1.0, 2.0) stays as it is; f(v) with v a list or 1-D array gets a list; f(X) with
    X an n-D array gets an array of the same shape (of Values or Duals), so X[0] is
    a row as f expects. `out_shape` records the shape of f's output (() for a number).
    """
    def __init__(self, f, args):
        self.shape = None
        if _packed(args):
            arr = np.asarray(args[0], dtype=float)
            self.shape = arr.shape
            self.xs = [float(a) for a in arr.ravel()]
        else:
            self.xs = [float(a) for a in args]
        self.f, self.out_shape = f, None

    def __call__(self, *v):
        if self.shape is None:
            out = self.f(*v)
        elif len(self.shape) == 1:
            out = self.f(list(v))
        else:
            grid = np.empty(len(v), dtype=object)
            grid[:] = v
            out = self.f(grid.reshape(self.shape))
        if self.out_shape is None:
            self.out_shape = np.shape(out) if isinstance(out, np.ndarray) else \
                ((len(out),) if isinstance(out, (list, tuple)) else ())
        return out

    def shaped(self, J):
        """J (m x n) as out_shape + in_shape for an n-D input (as PyTorch), m x n otherwise."""
        if self.shape is None or len(self.shape) < 2:
            return J
        return J.reshape(tuple(self.out_shape or ()) + self.shape)


def _scalar_output(out, fname):
    if isinstance(out, (Value, Dual)):
        return out
    if isinstance(out, numbers.Real):      # f ignored its inputs: a constant function
        return Value(float(out), requires_grad=False)
    raise TypeError(f'{fname} needs f to return one scalar, got {type(out).__name__}'
                    + (f' of shape {out.shape}' if hasattr(out, 'shape') else '')
                    + '; for several outputs use jacobian or vjp (or reduce first, e.g. .sum())')


def _nested():
    """True while an outer grad / vjp / hessian traces Values: an inner transform must then
    answer with nodes joined to the outer graph (create_graph), not with plain numbers."""
    return any(Tracing.inputs)


def _start(a, label=''):
    """(what to differentiate at, what f receives) for one argument.

    A number becomes a fresh leaf. A Value (grad of grad) becomes a fresh node a + 0.0:
    the inner derivative is taken with respect to it alone, while the outer transform
    still sees through it to a (no perturbation confusion). A Dual(p, t) (jvp of grad)
    becomes a leaf for p, and f receives the Dual of that leaf: the reverse pass then
    differentiates both the primal and the tangent (reverse over forward).
    """
    if isinstance(a, Dual):
        wrt, inner = _start(a.primal, label)
        return wrt, Dual(inner, a.tangent, a.tag)
    if isinstance(a, Value):
        node = a + 0.0 if a.requires_grad else Value(a.data)
        node.label = a.label or label
        return node, node
    node = Value(a, label=label)
    return node, node


def _gradients_of(out, wrt, create_graph):
    """d out / d each of wrt; a Dual output (p + t ε) has gradient Dual(dp, dt)."""
    if isinstance(out, Dual):
        dp = _gradients_of(out.primal, wrt, create_graph)
        dt = _gradients_of(out.tangent, wrt, create_graph)
        return [Dual(a, b, out.tag) for a, b in zip(dp, dt)]
    if isinstance(out, Value) and out.requires_grad:
        return list(gradients(out, wrt, create_graph=create_graph))
    return [0.0] * len(wrt)


def _result(x, nested):
    """What a transform hands back: a node still joined to an outer computation, else numbers."""
    if isinstance(x, Dual):
        return Dual(_result(x.primal, nested), _result(x.tangent, nested), x.tag)
    if isinstance(x, Value):
        return x if (nested and x.requires_grad) else x.data
    return x


def value_and_grad(f, argnums=0):
    """Return a function computing (f(*args), df/d args[argnums]) by reverse mode.

    It composes: grad(grad(f)), grad of a function that calls grad or jvp, and
    jvp of grad(f) all work; no `.grad` anywhere changes.
    """
    def wrapped(*args):
        single, nums = _argnums_tuple(argnums, len(args))
        nested = _nested() or any(isinstance(args[i], Value) for i in nums)
        started = {i: _start(args[i], f'x{i}') for i in nums}
        vals = [started[i][1] if i in started else a for i, a in enumerate(args)]
        wrt = [started[i][0] for i in nums]
        with _tracing(wrt):
            out = _scalar_output(f(*vals), 'grad')
            grads = _gradients_of(out, wrt, create_graph=nested)
        grads = tuple(_result(g, nested) for g in grads)
        return _result(out, nested), (grads[0] if single else grads)
    return wrapped


def grad(f, argnums=0):
    """Return a function computing df/d args[argnums] (a float, or a tuple for several argnums)."""
    vg = value_and_grad(f, argnums)
    return lambda *args: vg(*args)[1]


def gradients(output, inputs, grad_out=None, create_graph=False):
    """(d output / d x for x in inputs), as torch.autograd.grad: no `.grad` anywhere changes.

    output: a scalar Value or Tensor, or a list of them with one grad_out each (the
    sum of grad_out_k · output_k is differentiated). inputs: Values or Tensors, leaves
    or not. create_graph=True (Values only) returns gradients that are Values with a
    graph of their own, to differentiate again. An input output does not depend on
    gets 0 (a Tensor: zeros of its shape). The one reverse pass: Value.backward's walk,
    with every gradient it passes through saved before and put back after.
    """
    outputs = list(output) if isinstance(output, (list, tuple)) else [output]
    inputs = tuple(inputs)
    if grad_out is None:
        seeds = [None] * len(outputs)
    else:
        seeds = list(grad_out) if isinstance(output, (list, tuple)) else [grad_out]
        if len(seeds) != len(outputs):
            raise ValueError(f'gradients: {len(outputs)} outputs but {len(seeds)} grad_out')
    if all(isinstance(o, Tensor) for o in outputs + list(inputs)):
        if create_graph:
            raise NotImplementedError('gradients(create_graph=True) needs Values: the tensor engine '
                                      'has no second-order backward; use Values (hessian, hvp)')
        return _tensor_gradients(outputs, inputs, seeds)
    for x in outputs + list(inputs):
        if not isinstance(x, Value):
            raise TypeError(f'gradients needs Values (or Tensors, not mixed), got {type(x).__name__}')
    roots = [(o, 1.0 if s is None else s) for o, s in zip(outputs, seeds) if o.requires_grad]
    order = topo_sort([o for o, _ in roots])
    saved = [node.grad for node in order]
    try:
        for node in order:
            node.grad = 0.0
        for o, s in roots:
            o.grad = o.grad + (s if isinstance(s, (Value, Dual)) else errors.as_real(s, 'gradients(grad_out=...)'))
        if create_graph:
            with enable_grad():               # the gradient's graph is wanted, whatever the mode
                walk(order, create_graph=True)
        else:
            walk_numbers(order)
        reached = set(order)
        return tuple(x.grad if x in reached else 0.0 for x in inputs)
    finally:
        for node, g in zip(order, saved):
            node.grad = g


def _tensor_gradients(outputs, inputs, seeds):
    roots = [o for o in outputs if o.requires_grad]
    order = topo_sort(roots)
    saved = [node.grad for node in order]
    try:
        for node in order:
            node.grad = None
        for o, s in zip(outputs, seeds):
            if o.requires_grad:
                o.grad = seed_of(o, s) if o.grad is None else o.grad + seed_of(o, s)
        walk_arrays(order)
        return tuple(np.zeros_like(x.data) if x.grad is None else x.grad for x in inputs)
    finally:
        for node, g in zip(order, saved):
            node.grad = g


def _outputs(out):
    """f's output as a list plus whether it was a single scalar."""
    if isinstance(out, (list, tuple)):
        return list(out), False
    if isinstance(out, np.ndarray):
        return list(out.ravel()), False
    return [out], True


def jvp(f, primals, tangents):
    """Forward mode: (f(primals), J · tangents) in one pass with dual numbers.

    Each call tags its Duals afresh, so a jvp inside another keeps its perturbation
    apart (d/dx of x · (d/dy (x + y)) is 1, not 2)."""
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f'jvp needs one tangent per primal: got {len(primals)} primals '
                         f'and {len(tangents)} tangents')
    tag = Dual.new_tag()
    duals = [Dual(p, t, tag) for p, t in zip(primals, tangents)]
    with _tracing():
        outs, single = _outputs(f(*duals))
    split = [(o.primal, o.tangent) if isinstance(o, Dual) and o.tag == tag else (o, 0.0) for o in outs]
    split = [(p if isinstance(p, (Value, Dual)) else float(p), t) for p, t in split]
    if single:
        return split[0]
    return [p for p, _ in split], [t for _, t in split]


def vjp(f, *primals):
    """Reverse mode: returns (f(primals), vjp_fn), where vjp_fn(v) = vᵀ J, one number per primal.

    The graph is built once; vjp_fn can be called many times (one reverse pass each).
    """
    nested = _nested() or any(isinstance(p, Value) for p in primals)
    started = [_start(p, f'x{i}') for i, p in enumerate(primals)]
    wrt = [w for w, _ in started]
    with _tracing(wrt):
        outs, single = _outputs(f(*[x for _, x in started]))
        outs = [_scalar_output(o, 'vjp') for o in outs]

    def vjp_fn(cotangent):
        cts, _ = _outputs(cotangent)
        if len(cts) != len(outs):
            raise ValueError(f'vjp_fn needs one cotangent per output: f has {len(outs)} '
                             f'outputs, got {len(cts)}')
        total = [0.0] * len(wrt)
        for o, ct in zip(outs, cts):               # (a Dual output: its primal and tangent)
            total = [a + b * ct for a, b in zip(total, _gradients_of(o, wrt, nested))]
        return tuple(_result(g, nested) for g in total)

    return _result(outs[0], nested) if single else [_result(o, nested) for o in outs], vjp_fn


def hvp(f, x, v, mode='fwdrev'):
    """Hessian-vector product H v of a scalar f at x, packed like x, without forming H.

    mode='fwdrev' (default): the two modes mixed. f runs once on Duals whose numbers are
    Values, which gives f'(x) v as a graph, and one reverse pass takes its gradient:
    reverse over forward (forward over reverse, jvp(grad(f), x, v), gives the same H v).
    mode='revrev': reverse over reverse, the gradient of grad(f)(x) · v.
    Like jacobian, f takes one number, or one sequence or array.
    """
    if mode not in ('fwdrev', 'revrev'):
        raise ValueError(f"hvp mode must be 'fwdrev' or 'revrev', got {mode!r}")
    g = _Flat(f, (x,))
    vs = [float(a) for a in np.ravel(np.asarray(v, dtype=float))]
    if len(vs) != len(g.xs):
        raise ValueError(f'hvp: v has {len(vs)} entries but x has {len(g.xs)}; they must match')
    if mode == 'fwdrev':
        # the directional derivative f'(x) v by a forward pass over Values, then its
        # gradient by one reverse pass: H v = grad(f'(x) v) (the gradient of f itself,
        # which jvp(grad(f)) would also compute, is not needed here)
        leaves = [Value(a, label=f'x{i}') for i, a in enumerate(g.xs)]
        tag = Dual.new_tag()
        with _tracing(leaves):
            out = _scalar_output(g(*[Dual(leaf, t, tag) for leaf, t in zip(leaves, vs)]), 'hvp')
            slope = out.tangent if isinstance(out, Dual) and out.tag == tag else 0.0
            hv = _gradients_of(slope, leaves, create_graph=False)
    else:
        every = tuple(range(len(vs)))
        hv = grad(lambda *xs: Value.dot(_numbers_or_nodes(grad(g, every)(*xs)), vs), every)(*g.xs)
    hv = [float(h) for h in hv]
    if g.shape is None:
        return hv[0]
    return np.array(hv).reshape(g.shape)


def _numbers_or_nodes(xs):
    return [x if isinstance(x, Value) else float(x) for x in xs]


def jacobian(f, mode='reverse'):
    """Return a function x ↦ J, the m × n matrix of d f_i / d x_j, as a numpy array.

    f takes n floats (or one sequence of n floats) and returns a float or m floats.
    mode='forward': n JVP passes, one column each. mode='reverse': m VJP passes,
    one row each. Both give the same matrix; they differ in cost.
    """
    if mode not in _MODES:
        raise ValueError(f"jacobian mode must be 'forward' or 'reverse', got {mode!r}")

    def wrapped(*args):
        g = _Flat(f, args)
        xs, n = g.xs, len(g.xs)
        if mode == 'forward':
            cols = []
            for j in range(n):
                _, t = jvp(g, xs, [1.0 if k == j else 0.0 for k in range(n)])
                cols.append(np.atleast_1d(np.asarray(t, dtype=float)))
            return g.shaped(np.column_stack(cols))
        out, vjp_fn = vjp(g, *xs)
        m = len(np.atleast_1d(out))
        rows = [vjp_fn([1.0 if k == i else 0.0 for k in range(m)] if m > 1 else 1.0)
                for i in range(m)]
        return g.shaped(np.array(rows, dtype=float).reshape(m, n))
    return wrapped


def hessian(f):
    """Return a function x ↦ H, the n × n matrix of second derivatives (reverse over reverse).

    Like jacobian, f takes n floats, or one sequence of n floats; for an n-D array
    input X, H has shape X.shape + X.shape (as PyTorch)."""
    def wrapped(*args):
        g = _Flat(f, args)
        xs = g.xs
        n = len(xs)
        leaves = [Value(x, label=f'x{i}') for i, x in enumerate(xs)]
        H = np.zeros((n, n))                     # (a constant function: H = 0)
        with _tracing(leaves):                   # (the second pass needs graphs too)
            out = _scalar_output(g(*leaves), 'hessian')
            grads = _gradients_of(out, leaves, create_graph=True)   # Values with graphs
        for i, gi in enumerate(grads):
            H[i] = [plain(h) for h in _gradients_of(gi, leaves, create_graph=False)]
        return H.reshape(g.shape * 2) if g.shape is not None and len(g.shape) >= 2 else H
    return wrapped
