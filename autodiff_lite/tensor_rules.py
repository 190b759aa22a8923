"""The tensor engine's own rule table: the ops that are not elementwise.

Elementwise ops (`+ - * / ** exp tanh relu ...`) use the partials of `ops.OPS`,
as `Value` does. What has no scalar counterpart lives here, one row each, the
way `ops.py` holds the scalar rows: matmul, reductions, reshapes, indexing,
softmax. A row gives a forward function `f(*inputs, **ctx)` and one
vector-Jacobian product per input, `vjps[i](grad_out, out, *inputs, **ctx)`:
grad_out (dL/d out) pulled back to input i. Everything here is plain numpy.
(The fused losses add their rows from `losses.py`.)
"""
import numpy as np

__all__ = ['Rule', 'RULES', 'define_rule', 'unbroadcast', 'is_basic_index']

_add_reduce = np.add.reduce      # the same as ndarray.sum, without its Python wrapper


class Rule:
    """A non-elementwise op: forward `f(*inputs, **ctx)` and one VJP per input,
    `vjps[i](grad_out, out, *inputs, **ctx)` (a variadic rule has one VJP returning
    the list for every input). Field names as in `ops.Op`."""
    __slots__ = ('name', 'f', 'vjps', 'symbol', 'variadic')

    def __init__(self, name, f, vjps, symbol, variadic=False):
        self.name, self.f, self.vjps, self.symbol = name, f, vjps, symbol
        self.variadic = variadic

    def __repr__(self):
        return f'Rule({self.name!r})'


RULES = {}


def define_rule(name, f, *vjps, symbol=None, variadic=False):
    """Add a row to RULES: forward `f`, then one VJP per input."""
    RULES[name] = Rule(name, f, vjps, symbol or name, variadic)


def unbroadcast(grad, shape):
    """Sum `grad` over the axes that broadcasting stretched, so it gets exactly `shape`.

    Forward, numpy stretched an input of shape `shape` to the output's shape:
    new leading axes were added and size-1 axes repeated. Each copy of an
    element passed its value on, so its gradient is the sum over the copies.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:                                   # new leading axes: sum them away
        grad = _add_reduce(grad, axis=tuple(range(extra)))
        if grad.shape == shape:
            return grad
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:                               # size-1 axes that were repeated
        grad = _add_reduce(grad, axis=stretched, keepdims=True)
    return grad.reshape(shape)


def is_basic_index(index):
    """True for ints, slices, None and Ellipsis (numpy views); False if any array or list."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis
               for i in parts)


def _keep(g, axis, ndim):
    """g (reduced over `axis` without keepdims) with the reduced axes put back as size 1."""
    if axis is None:
        return np.reshape(g, (1,) * ndim)
    return np.expand_dims(g, axis)


def _mm_operands(a, b, g):
    # A 1-D left operand is a row (1, k), a 1-D right one a column (k, 1);
    # g gets the same axes back, so one batched formula serves every case.
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    if b.ndim == 1:
        g = np.expand_dims(g, -1)
    if a.ndim == 1:
        g = np.expand_dims(g, -2)
    return a2, b2, g


def _matmul_vjp_a(g, out, a, b):
    # C = A B  =>  dL/dA = G B^T (batch axes that were broadcast are summed)
    if a.ndim == 2 and b.ndim == 2:
        return g @ b.T
    a2, b2, g = _mm_operands(a, b, g)
    return unbroadcast(g @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)


def _matmul_vjp_b(g, out, a, b):
    # C = A B  =>  dL/dB = A^T G
    if a.ndim == 2 and b.ndim == 2:
        return a.T @ g
    a2, b2, g = _mm_operands(a, b, g)
    return unbroadcast(np.swapaxes(a2, -1, -2) @ g, b2.shape).reshape(b.shape)


def _max_vjp(g, out, a, axis=None, keepdims=False):
    # d max / d a_i = 1 where a_i is the max (split evenly between ties), else 0
    if not keepdims:
        g, out = _keep(g, axis, a.ndim), _keep(out, axis, a.ndim)
    mask = a == out
    return mask * (g / mask.sum(axis=axis, keepdims=True))


def _getitem_vjp(g, out, a, index=None):
    # out = a[index] copies some entries: each gets its gradient back, and an
    # entry picked twice (x[[0, 0]]) gets both (np.add.at does not lose repeats).
    grad = np.zeros_like(a)
    if is_basic_index(index):
        grad[index] = g
    else:
        np.add.at(grad, index, g)
    return grad


def log_softmax_array(a, axis=-1):
    """log softmax(a) = a - m - log sum exp(a - m), with m = max(a): exp never overflows."""
    shifted = a - a.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax_array(a, axis=-1):
    """softmax(a) = e^(a - m) / sum e^(a - m), with m = max(a)."""
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


#            name         forward, then one VJP per input: vjp(grad_out, out, *inputs, **ctx)
define_rule('matmul',     np.matmul, _matmul_vjp_a, _matmul_vjp_b, symbol='@')
# sum: every input entry fed its output entry once, so it gets grad_out back (broadcast)
define_rule('sum',        lambda a, axis=None, keepdims=False: a.sum(axis=axis, keepdims=keepdims),
            lambda g, out, a, axis=None, keepdims=False:
                np.broadcast_to(g if keepdims else _keep(g, axis, a.ndim), a.shape))
# mean = sum / n, n = entries averaged per output entry
define_rule('mean',       lambda a, axis=None, keepdims=False: a.mean(axis=axis, keepdims=keepdims),
            lambda g, out, a, axis=None, keepdims=False:
                np.broadcast_to((g if keepdims else _keep(g, axis, a.ndim)) * (out.size / a.size), a.shape))
# max: the gradient goes to the entry (or entries, shared) that was the max
define_rule('max',        lambda a, axis=None, keepdims=False: a.max(axis=axis, keepdims=keepdims),
            _max_vjp)
# reshape and transpose only move entries: move the gradient back
define_rule('reshape',    lambda a, shape=None: a.reshape(shape),
            lambda g, out, a, shape=None: g.reshape(a.shape))
define_rule('transpose',  lambda a, axes=None: a.transpose(axes),
            lambda g, out, a, axes=None: g.transpose(None if axes is None else np.argsort(axes)),
            symbol='T')
define_rule('getitem',    lambda a, index=None: a[index], _getitem_vjp, symbol='[]')
# concatenate / stack: each input gets its own slice of grad_out back
define_rule('concatenate', lambda *xs, axis=0: np.concatenate(xs, axis=axis),
            lambda g, out, *xs, axis=0:
                np.split(g, np.cumsum([x.shape[axis] for x in xs[:-1]]), axis=axis),
            symbol='cat', variadic=True)
define_rule('stack',      lambda *xs, axis=0: np.stack(xs, axis=axis),
            lambda g, out, *xs, axis=0: list(np.moveaxis(g, axis, 0)),
            variadic=True)
# softmax: s = softmax(a)  =>  dL/da = s * (g - sum(g * s))
define_rule('softmax',    softmax_array,
            lambda g, out, a, axis=-1: out * (g - (g * out).sum(axis=axis, keepdims=True)))
# log_softmax: l = log softmax(a)  =>  dL/da = g - softmax(a) * sum(g), softmax(a) = e^l
define_rule('log_softmax', log_softmax_array,
            lambda g, out, a, axis=-1: g - np.exp(out) * g.sum(axis=axis, keepdims=True),
            symbol='log softmax')
