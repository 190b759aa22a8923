"""Functions in, functions out: `grad`, `value_and_grad`, `jvp`, `vjp`, `jacobian`.

Every function here takes plain Python floats and returns plain floats (or a
numpy array for `jacobian`); the `Value` / `Dual` tracing happens inside.
"""
import contextlib
import numbers

import numpy as np

from .dual import Dual
from .graph import Tracing, enable_grad
from .value import Value, backward

__all__ = ['grad', 'value_and_grad', 'jvp', 'vjp', 'jacobian', 'hessian']

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
    if isinstance(out, Value):
        return out
    if isinstance(out, numbers.Real):      # f ignored its inputs: a constant function
        return Value(float(out), requires_grad=False)
    raise TypeError(f'{fname} needs f to return one scalar, got {type(out).__name__}; '
                    'for several outputs use jacobian or vjp')


def value_and_grad(f, argnums=0):
    """Return a function computing (f(*args), df/d args[argnums]) by reverse mode."""
    def wrapped(*args):
        single, nums = _argnums_tuple(argnums, len(args))
        for i in nums:
            if isinstance(args[i], (Value, Dual)):
                raise TypeError('grad takes plain numbers, and here it got a '
                                f'{type(args[i]).__name__}: grad(grad(f)) does not nest. For a second '
                                'derivative use hessian(f)(x), or y.backward(create_graph=True) '
                                'and then x.grad.backward()')
        vals = [Value(a, label=f'x{i}') if i in nums else a for i, a in enumerate(args)]
        with _tracing([vals[i] for i in nums]):
            out = _scalar_output(f(*vals), 'grad')
        if out.requires_grad:                 # (a constant function: every gradient is 0)
            out.backward()
        grads = tuple(vals[i].grad for i in nums)
        return out.data, (grads[0] if single else grads)
    return wrapped


def grad(f, argnums=0):
    """Return a function computing df/d args[argnums] (a float, or a tuple for several argnums)."""
    vg = value_and_grad(f, argnums)
    return lambda *args: vg(*args)[1]


def _outputs(out):
    """f's output as a list plus whether it was a single scalar."""
    if isinstance(out, (list, tuple)):
        return list(out), False
    if isinstance(out, np.ndarray):
        return list(out.ravel()), False
    return [out], True


def jvp(f, primals, tangents):
    """Forward mode: (f(primals), J · tangents) in one pass with dual numbers."""
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f'jvp needs one tangent per primal: got {len(primals)} primals '
                         f'and {len(tangents)} tangents')
    duals = [Dual(p, t) for p, t in zip(primals, tangents)]
    with _tracing():
        outs, single = _outputs(f(*duals))
    split = [(o.primal, o.tangent) if isinstance(o, Dual) else (float(o), 0.0) for o in outs]
    if single:
        return split[0]
    return [p for p, _ in split], [t for _, t in split]


def vjp(f, *primals):
    """Reverse mode: returns (f(primals), vjp_fn), where vjp_fn(v) = vᵀ J, one number per primal.

    The graph is built once; vjp_fn can be called many times (one backward pass each).
    """
    leaves = [Value(p, label=f'x{i}') for i, p in enumerate(primals)]
    with _tracing(leaves):
        outs, single = _outputs(f(*leaves))
        outs = [_scalar_output(o, 'vjp') for o in outs]

    def vjp_fn(cotangent):
        cts, _ = _outputs(cotangent)
        if len(cts) != len(outs):
            raise ValueError(f'vjp_fn needs one cotangent per output: f has {len(outs)} '
                             f'outputs, got {len(cts)}')
        for leaf in leaves:
            leaf.grad = 0.0
        backward(outs, cts)
        return tuple(leaf.grad for leaf in leaves)

    values = [o.data for o in outs]
    return (values[0] if single else values), vjp_fn


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
        with _tracing(leaves):                   # (the second backward needs graphs too)
            out = _scalar_output(g(*leaves), 'hessian')
            if out.requires_grad:
                out.backward(create_graph=True)  # each leaf.grad is now a Value with a graph
        for i, gi in enumerate([leaf.grad for leaf in leaves]):
            if isinstance(gi, Value) and gi.requires_grad:
                for leaf in leaves:
                    leaf.grad = 0.0
                gi.backward()
                H[i] = [float(leaf.grad) for leaf in leaves]
        return H.reshape(g.shape * 2) if g.shape is not None and len(g.shape) >= 2 else H
    return wrapped
