"""`Tensor`: a numpy array that remembers how it was computed (reverse mode).

    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    x.grad                    # array([2., 4., 6.]), always the shape of x.data

Derivatives live in two places only:

* elementwise ops (`+ - * / ** exp log tanh sigmoid relu ...`) use the partials
  of `ops.OPS`, exactly as `Value` does, then `unbroadcast` sums the gradient
  back to each input's shape;
* everything else (matmul, reductions, reshaping, indexing, softmax and the
  fused losses) has one row in `RULES` below: a forward function and one
  vector-Jacobian product (VJP) per input, `vjp(grad_out, out, *inputs)`.

The graph is the same as `Value`'s: `_prev` holds the op's inputs in order
(a constant array or number is kept raw and gets no gradient), `_op` the
name. `backward()` needs no depth-first topological sort: every op's output
gets a creation stamp, and an output is always made after its inputs, so
newest-first is already an order in which each tensor comes after all the
tensors that use it (the "tape" of a framework, read backwards).
"""
import itertools
import numbers
import operator

import numpy as np

from .graph import Node, _GradMode, no_grad
from .ops import OPS

__all__ = ['Tensor', 'RULES', 'Rule', 'unbroadcast', 'linear', 'concatenate', 'stack',
           'softmax', 'log_softmax', 'cross_entropy', 'mse', 'no_grad']


_add_reduce = np.add.reduce      # the same as ndarray.sum, without its Python wrapper


# --- broadcasting ----------------------------------------------------------------------
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


def _broadcast_error(name, sa, sb):
    """A ValueError naming the op, both shapes, the first clashing axis and a fix."""
    clash = ''
    for k in range(1, min(len(sa), len(sb)) + 1):
        if sa[-k] != sb[-k] and 1 not in (sa[-k], sb[-k]):
            clash = f' (counting from the right, axis -{k} has sizes {sa[-k]} and {sb[-k]})'
            break
    return ValueError(
        f'{name}: shapes {sa} and {sb} do not broadcast{clash}: aligned from the right, each '
        f'pair of sizes must be equal or one of them 1. Fix: reshape one side so the axes '
        f'line up, e.g. x.reshape(-1, 1) for a column, or transpose with .T.')


# --- making tensors -----------------------------------------------------------------
def _as_array(data, dtype, what='Tensor()'):
    """data as a numpy array of numbers, with clear errors for ragged lists and non-numbers."""
    if isinstance(data, Tensor):
        data = data.data
    try:
        arr = np.asarray(data, dtype=dtype)
    except ValueError as err:
        if 'inhomogeneous' in str(err) or 'sequence' in str(err):
            raise ValueError(
                f'{what}: a ragged nested list (rows of different lengths) is not a tensor: '
                f'every row must have the same length. Pad the short rows, or make one '
                f'Tensor per row. [numpy: {err}]') from None
        raise
    except TypeError as err:
        raise TypeError(f'{what} needs numbers, got {type(data).__name__}: {err}') from None
    if arr.dtype.kind not in 'biuf':
        hint = (' (it holds Values: use Tensor([v.data for v in values]))'
                if any(type(v).__name__ == 'Value' for v in np.ravel(arr)[:10]) else '')
        raise TypeError(f'{what} needs numbers (bool, int or float), got dtype {arr.dtype}{hint}')
    return arr


def _constant(x, name):
    """The other side of a binary op when it is not a Tensor: kept raw, gets no gradient."""
    if isinstance(x, (np.ndarray, np.generic)) or (isinstance(x, numbers.Real)):
        return x
    if isinstance(x, (list, tuple)):
        return _as_array(x, None, f'{name} with a list')
    if isinstance(x, Node):
        raise TypeError(f'{name}: a Tensor and a {type(x).__name__} do not mix; '
                        f'use Tensor(v.data) to turn a scalar node into a tensor')
    raise TypeError(f'{name}: cannot combine a Tensor with {type(x).__name__} {x!r}')


_clock = itertools.count(1)     # creation stamps for graph nodes: 1, 2, 3, ...


def _make(data, op, prev, saved=(), ctx=None):
    """An op's output node; it joins the graph only if an input requires grad.

    `saved` are the inputs' arrays as the forward pass used them (a tensor's
    data, a constant as it is): backward hands them to the partials and VJPs.
    """
    out = Tensor.__new__(Tensor)
    out.data = data if data.__class__ is np.ndarray else np.asarray(data)
    out.grad = None
    out.label = ''
    out._op = op
    out._ctx = ctx
    if _GradMode.enabled:
        for p in prev:
            if isinstance(p, Tensor) and p.requires_grad:
                out._prev = prev
                out._saved = saved
                out.requires_grad = True
                out._stamp = next(_clock)       # made after every one of its inputs
                return out
    out._prev = out._saved = ()   # under no_grad, or no input requires grad: no graph
    out.requires_grad = False
    out._stamp = 0
    return out


# --- elementwise ops: the partials of ops.OPS ---------------------------------------
def _elementwise(name, *inputs):
    row = OPS[name]
    datas = [x.data if isinstance(x, Tensor) else x for x in inputs]
    try:
        if row.domain:       # log(-1), 1/0 ...: an error, never a silent nan or inf
            with np.errstate(divide='raise', invalid='raise'):
                data = row.f(*datas)
        else:
            data = row.f(*datas)
    except FloatingPointError as err:
        shapes = ' and '.join(str(np.shape(d)) for d in datas)
        raise ValueError(f'{name} on shapes {shapes}: {row.domain} ({err}). '
                         f'Check the inputs, e.g. with (x.data <= 0).any().') from None
    except ValueError:
        if len(datas) == 2:
            sa, sb = np.shape(datas[0]), np.shape(datas[1])
            try:
                np.broadcast_shapes(sa, sb)
            except ValueError:
                raise _broadcast_error(name, sa, sb) from None
        raise
    return _make(data, name, tuple(inputs), datas)


def _unary(name, x):
    """exp, tanh, relu ... of a tensor: the short path of `_elementwise` (same node)."""
    row = OPS[name]
    if row.domain:           # log, sqrt: the path that turns a domain error into a message
        return _elementwise(name, x)
    a = x.data
    return _make(row.f(a), name, (x,), (a,))


def _binary(name, a, b):
    if not isinstance(a, Tensor):
        a = _constant(a, name)
    if not isinstance(b, Tensor):
        b = _constant(b, name)
    return _elementwise(name, a, b)


# --- the rule table for everything that is not elementwise ---------------------------
class Rule:
    """A non-elementwise op: `forward(*inputs, **ctx)` and one VJP per input,
    `vjps[i](grad_out, out, *inputs, **ctx)` = grad_out pulled back to input i
    (a variadic rule has one VJP returning the list for every input)."""
    __slots__ = ('name', 'forward', 'vjps', 'symbol', 'variadic')

    def __init__(self, name, symbol, forward, vjps, variadic=False):
        self.name, self.symbol, self.forward, self.vjps = name, symbol, forward, vjps
        self.variadic = variadic

    def __repr__(self):
        return f'Rule({self.name!r})'


RULES = {}


def _rule(name, symbol, forward, *vjps, variadic=False):
    RULES[name] = Rule(name, symbol, forward, vjps, variadic)


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
    if _is_basic(index):
        grad[index] = g
    else:
        np.add.at(grad, index, g)
    return grad


def _log_softmax(a, axis=-1):
    # log softmax(a) = a - m - log sum exp(a - m), with m = max(a): exp never overflows
    shifted = a - a.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _softmax(a, axis=-1):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _linear_vjp_x(g, out, x, w, b=None):
    # y = x W + b  =>  dL/dx = G W^T
    if x.ndim == 2:
        return g @ w.T
    return (g.reshape(-1, w.shape[1]) @ w.T).reshape(x.shape)


def _linear_vjp_w(g, out, x, w, b=None):
    # y = x W + b  =>  dL/dW = x^T G (summed over every batch row)
    if x.ndim == 2:
        return x.T @ g
    return x.reshape(-1, w.shape[0]).T @ g.reshape(-1, w.shape[1])


def _linear_vjp_b(g, out, x, w, b=None):
    # y = x W + b  =>  dL/db = sum of G over the batch rows (b was broadcast to each)
    return _add_reduce(g if g.ndim == 2 else g.reshape(-1, w.shape[1]), axis=0)


def _mse(p, t):
    d = p - t
    return _add_reduce(d * d, axis=None) / d.size


def _cross_entropy(logits, targets=None):
    # L = -(1/N) sum_n log softmax(logits_n)[t_n]
    logp = _log_softmax(logits, axis=1)
    return -logp[np.arange(len(targets)), targets].mean()


def _cross_entropy_vjp(g, out, logits, targets=None):
    # dL/dlogits = (softmax(logits) - onehot(t)) / N
    grad = _softmax(logits, axis=1)
    grad[np.arange(len(targets)), targets] -= 1
    grad *= g / len(targets)
    return grad


#     name           symbol   forward, then one VJP per input: vjp(grad_out, out, *inputs, **ctx)
_rule('matmul',      '@',     np.matmul, _matmul_vjp_a, _matmul_vjp_b)
# linear(x, W, b) = x @ W + b in one node: what nn.Linear uses (one node instead of two)
_rule('linear',      'linear', lambda x, w, b: x @ w + b, _linear_vjp_x, _linear_vjp_w, _linear_vjp_b)
# sum: every input entry fed its output entry once, so it gets grad_out back (broadcast)
_rule('sum',         'sum',   lambda a, axis=None, keepdims=False: a.sum(axis=axis, keepdims=keepdims),
      lambda g, out, a, axis=None, keepdims=False:
          np.broadcast_to(g if keepdims else _keep(g, axis, a.ndim), a.shape))
# mean = sum / n, n = entries averaged per output entry
_rule('mean',        'mean',  lambda a, axis=None, keepdims=False: a.mean(axis=axis, keepdims=keepdims),
      lambda g, out, a, axis=None, keepdims=False:
          np.broadcast_to((g if keepdims else _keep(g, axis, a.ndim)) * (out.size / a.size), a.shape))
# max: the gradient goes to the entry (or entries, shared) that was the max
_rule('max',         'max',   lambda a, axis=None, keepdims=False: a.max(axis=axis, keepdims=keepdims),
      _max_vjp)
# reshape and transpose only move entries: move the gradient back
_rule('reshape',     'reshape', lambda a, shape=None: a.reshape(shape),
      lambda g, out, a, shape=None: g.reshape(a.shape))
_rule('transpose',   'T',     lambda a, axes=None: a.transpose(axes),
      lambda g, out, a, axes=None: g.transpose(None if axes is None else np.argsort(axes)))
_rule('getitem',     '[]',    lambda a, index=None: a[index], _getitem_vjp)
# concatenate / stack: each input gets its own slice of grad_out back
_rule('concatenate', 'cat',   lambda *xs, axis=0: np.concatenate(xs, axis=axis),
      lambda g, out, *xs, axis=0:
          np.split(g, np.cumsum([x.shape[axis] for x in xs[:-1]]), axis=axis),
      variadic=True)
_rule('stack',       'stack', lambda *xs, axis=0: np.stack(xs, axis=axis),
      lambda g, out, *xs, axis=0: list(np.moveaxis(g, axis, 0)),
      variadic=True)
# softmax: s = softmax(a)  =>  dL/da = s * (g - sum(g * s))
_rule('softmax',     'softmax', _softmax,
      lambda g, out, a, axis=-1: out * (g - (g * out).sum(axis=axis, keepdims=True)))
# log_softmax: l = log softmax(a)  =>  dL/da = g - softmax(a) * sum(g), softmax(a) = e^l
_rule('log_softmax', 'log softmax', _log_softmax,
      lambda g, out, a, axis=-1: g - np.exp(out) * g.sum(axis=axis, keepdims=True))
_rule('cross_entropy', 'CE',  _cross_entropy, _cross_entropy_vjp)
# mse: L = mean((p - t)^2)  =>  dL/dp = 2 (p - t) / n, dL/dt = -dL/dp
_rule('mse',         'MSE',   _mse,
      lambda g, out, p, t: (p - t) * (2.0 * float(g) / p.size),
      lambda g, out, p, t: (p - t) * (-2.0 * float(g) / p.size))


def _is_basic(index):
    """True for ints, slices, None and Ellipsis (numpy views); False if any array or list."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis
               for i in parts)


_NO_CTX = {}


def _apply(name, inputs, **ctx):
    """Run a RULES row forward and record the node."""
    datas = [x.data if isinstance(x, Tensor) else x for x in inputs]
    data = RULES[name].forward(*datas, **ctx)
    return _make(data, name, tuple(inputs), datas, ctx)


# --- the Tensor class -----------------------------------------------------------------
class Tensor(Node):
    """An array node: `data` (numpy), `grad` (None until backward, then data's shape).

    `Tensor(data, requires_grad=False, dtype=None)`: floats default to float64
    (pass dtype=np.float32 for speed). A numpy array is used without a copy,
    except for a tensor that requires grad (an optimizer updates it in place).
    Backward reads the arrays the forward pass used, so change no `.data` in place
    between an op and its backward() (PyTorch raises there; this engine cannot tell).
    """
    __slots__ = ('data', 'grad', 'label', 'requires_grad', '_op', '_prev', '_saved', '_ctx', '_stamp')
    __array_ufunc__ = None      # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None, label=''):
        arr = _as_array(data, dtype)
        if requires_grad:
            if arr.dtype.kind != 'f':
                raise TypeError(
                    f'only floating-point tensors can require gradients, got dtype {arr.dtype}: '
                    f'use dtype=float (Tensor(..., dtype=float, requires_grad=True)) '
                    f'or write 1.0 instead of 1')
            arr = arr.copy()
        self.data = arr
        self.grad = None
        self.label = label
        self.requires_grad = bool(requires_grad)
        self._op = ''
        self._prev = self._saved = ()
        self._ctx = None
        self._stamp = 0          # leaves: no stamp needed, they pass no gradient on

    def __repr__(self):
        body = np.array2string(self.data, precision=4, separator=', ', prefix='Tensor(')
        extra = ''
        if self.label:
            extra += f', label={self.label!r}'
        if self._prev:
            extra += f', op={self._op!r}'
        elif self.requires_grad:
            extra += ', requires_grad=True'
        if self.data.dtype != np.float64:
            extra += f', dtype={self.data.dtype}'
        return f'Tensor({body}{extra})'

    # --- array facts ----------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def T(self):
        """Reversed axes (the matrix transpose for 2-D)."""
        return self.transpose()

    def __len__(self):
        return len(self.data)

    def __iter__(self):
        # without this, Python would iterate by indexing until an IndexError: [] for a 0-d tensor
        if self.data.ndim == 0:
            raise TypeError(f'iteration over a 0-d tensor ({self.data.item():g}): use .item()')
        return (self[i] for i in range(len(self.data)))

    def numpy(self):
        """The data as a numpy array (shared, not copied)."""
        return self.data

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def item(self):
        """The one number inside a one-element tensor, as a Python float or int."""
        if self.data.size != 1:
            raise ValueError(f'item() needs a tensor with one element, this one has shape {self.shape}')
        return self.data.item()

    def __float__(self):
        return float(self.item())

    def __bool__(self):
        # like numpy: a one-element tensor is its value, a larger one is ambiguous
        if self.data.size != 1:
            raise ValueError(f'the truth value of a tensor of shape {self.shape} is ambiguous: '
                             f'use (t.data > 0).any() or .all()')
        return bool(self.data)

    def is_leaf(self):
        return not self._prev

    def zero_grad(self):
        """Forget the gradient (grad becomes None, as in PyTorch)."""
        self.grad = None

    def detach(self):
        """Same data (shared), no history: gradients stop here."""
        return _make(self.data, '', ())

    # --- elementwise arithmetic (partials from ops.OPS) -----------------------------
    def __add__(self, other): return _binary('add', self, other)
    def __radd__(self, other): return _binary('add', other, self)
    def __sub__(self, other): return _binary('sub', self, other)
    def __rsub__(self, other): return _binary('sub', other, self)
    def __mul__(self, other): return _binary('mul', self, other)
    def __rmul__(self, other): return _binary('mul', other, self)
    def __truediv__(self, other): return _binary('div', self, other)
    def __rtruediv__(self, other): return _binary('div', other, self)
    def __pow__(self, other): return _binary('pow', self, other)
    def __rpow__(self, other): return _binary('pow', other, self)
    def __neg__(self): return _unary('neg', self)
    def __abs__(self): return _unary('abs', self)

    def exp(self): return _unary('exp', self)
    def log(self): return _unary('log', self)
    def sqrt(self): return _unary('sqrt', self)
    def tanh(self): return _unary('tanh', self)
    def sigmoid(self): return _unary('sigmoid', self)
    def relu(self): return _unary('relu', self)
    def sin(self): return _unary('sin', self)
    def cos(self): return _unary('cos', self)
    def abs(self): return _unary('abs', self)

    # --- the rule table ---------------------------------------------------------------
    def __matmul__(self, other):
        return _matmul(self, other)

    def __rmatmul__(self, other):
        return _matmul(other, self)

    def sum(self, axis=None, keepdims=False):
        """Sum over `axis` (all axes by default)."""
        return _apply('sum', (self,), axis=_check_axis(axis, self, 'sum'), keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        """Mean over `axis` (all axes by default)."""
        return _apply('mean', (self,), axis=_check_axis(axis, self, 'mean'), keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        """Largest entry over `axis`; ties share the gradient evenly."""
        if self.data.size == 0:
            raise ValueError('max of an empty tensor is undefined')
        return _apply('max', (self,), axis=_check_axis(axis, self, 'max'), keepdims=keepdims)

    def reshape(self, *shape):
        """Same entries, new shape: t.reshape(2, 3) or t.reshape((2, 3)); -1 is inferred."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        try:
            return _apply('reshape', (self,), shape=shape)
        except ValueError:
            raise ValueError(f'reshape: cannot reshape a tensor of shape {self.shape} '
                             f'({self.size} entries) into shape {shape}; the sizes must '
                             f'multiply to {self.size}') from None

    def transpose(self, *axes):
        """Permute axes: t.transpose() reverses them, t.transpose(1, 0, 2) picks an order."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        n = self.ndim
        if axes and (not all(-n <= a < n for a in axes)
                     or sorted(a % n for a in axes) != list(range(n))):
            raise ValueError(f'transpose: axes {axes} are not a permutation of the {n} '
                             f'axes of a tensor of shape {self.shape}')
        return _apply('transpose', (self,), axes=tuple(a % n for a in axes) or None)

    def __getitem__(self, index):
        return _getitem(self, index)

    def softmax(self, axis=-1):
        """exp(x) / sum exp(x) along `axis`, computed stably."""
        return softmax(self, axis)

    def log_softmax(self, axis=-1):
        """log softmax(x) along `axis`, computed stably."""
        return log_softmax(self, axis)

    # --- reverse mode -------------------------------------------------------------------
    def backward(self, grad=None):
        """Fill `.grad` of every tensor this one depends on: d self / d tensor.

        A one-element tensor seeds 1; a larger one needs `grad` (dL/dself, its
        shape). Leaves accumulate across calls (call zero_grad() between steps);
        interior tensors are reset each call and keep their gradient afterwards
        so you can inspect them.
        """
        if not self.requires_grad:
            raise RuntimeError('backward(): this tensor does not require grad and has no graph. '
                               'Create the inputs with requires_grad=True (and not under no_grad()).')
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f'grad can be implicitly created only for scalar outputs; pass grad= with '
                    f'shape {self.shape} (e.g. backward(grad=np.ones({self.shape}))), '
                    f'or reduce first with .sum() or .mean()')
            grad = np.array(1, self.data.dtype).reshape(self.data.shape)
        else:
            grad = np.array(grad.data if isinstance(grad, Tensor) else grad, dtype=self.data.dtype)
            if grad.shape != self.shape:
                raise ValueError(f'backward(grad=...): grad has shape {grad.shape} but this tensor '
                                 f'has shape {self.shape}; they must be equal')
        order = _ops_newest_first(self)
        for node in order:                    # no stale interior gradients
            node.grad = None
        self.grad = grad if self.grad is None else np.asarray(self.grad + grad)
        _backward(order)


_by_stamp = operator.attrgetter('_stamp')


def _ops_newest_first(root):
    """The op outputs that `root` depends on (itself included), newest first.

    Newest first is a reverse topological order, since an op's output is made
    after its inputs: when the chain rule reaches a tensor, every tensor that
    used it has already passed its gradient on. Leaves are left out (they pass
    nothing on), and so is anything that does not require grad.
    """
    if not root._prev:
        return []
    found, work = {root}, [root]
    for node in work:                         # the list grows while we walk it
        for p in node._prev:
            if isinstance(p, Tensor) and p._prev and p not in found:
                found.add(p)
                work.append(p)
    work.sort(key=_by_stamp, reverse=True)
    return work


def _accumulate(p, c, g):
    """Add contribution c to p.grad; c may be g itself or a view of another gradient."""
    if c.__class__ is not np.ndarray or c.dtype is not p.data.dtype:
        c = np.asarray(c, dtype=p.data.dtype)
    if p.grad is None:
        if not p._prev and (c is g or c.base is not None):
            c = c.copy()          # a leaf owns its gradient (a user may change it in place)
        p.grad = c
    else:
        g = p.grad + c
        p.grad = g if g.__class__ is np.ndarray else np.asarray(g)   # 0-d + 0-d gives a numpy scalar


def _backward(order):
    """Op outputs newest first: each node's grad is complete when it is reached.

    This loop is the engine's hot path, hence the local names, the unary
    shortcut and `_accumulate` inlined for its usual case; the maths is all
    in OPS (partial * grad_out) and RULES (VJPs).
    """
    rules, ops, T, accumulate = RULES, OPS, Tensor, _accumulate
    for node in order:
        prev, datas, g, out = node._prev, node._saved, node.grad, node.data
        rule = rules.get(node._op)
        if rule is None:                      # elementwise: partial * grad_out, unbroadcast
            partials = ops[node._op].partials
            if len(prev) == 1:                # unary: its input is a tensor that needs grad
                p, c = prev[0], g * partials[0](datas[0], out)
                if p.grad is None and c.__class__ is np.ndarray and c.dtype is p.data.dtype:
                    p.grad = c                # the usual case: p's first gradient, a new array
                else:
                    accumulate(p, c, g)
                continue
            for partial, p in zip(partials, prev):
                if isinstance(p, T) and p.requires_grad:
                    d = partial(*datas, out)
                    c = g if (d.__class__ is float and d == 1.0) else g * d
                    if c.shape != p.data.shape:
                        c = unbroadcast(c, p.data.shape)
                    accumulate(p, c, g)
            continue
        ctx = node._ctx
        if rule.variadic:                     # concatenate, stack: one VJP for all inputs
            for p, c in zip(prev, rule.vjps[0](g, out, *datas, **ctx)):
                if isinstance(p, T) and p.requires_grad:
                    accumulate(p, c, g)
            continue
        for vjp, p in zip(rule.vjps, prev):   # matmul, sum, ...: one VJP per input
            if isinstance(p, T) and p.requires_grad:
                c = vjp(g, out, *datas, **ctx) if ctx else vjp(g, out, *datas)
                if p.grad is None and c.__class__ is np.ndarray and c.base is None \
                        and c is not g and c.dtype is p.data.dtype:
                    p.grad = c                # the usual case: a new array, p's first gradient
                else:
                    accumulate(p, c, g)


# --- functions with checks and clear errors ----------------------------------------
def _check_axis(axis, t, name):
    if axis is None:
        return None
    axes = axis if isinstance(axis, tuple) else (axis,)
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f'{name}: axis must be an int or a tuple of ints, got {axis!r} '
                            f'({type(axis).__name__})' + (f': write axis={tuple(axis)}'
                                                          if isinstance(axis, list) else ''))
        if not -t.ndim <= a < max(t.ndim, 1) or (t.ndim == 0):
            raise ValueError(f'{name}: axis {a} is out of range for a tensor of shape {t.shape} '
                             f'({t.ndim} axes: use 0..{t.ndim - 1} or negative from the end)')
    return axis


def _matmul(a, b):
    if not isinstance(a, Tensor):
        a = Tensor(_constant(a, 'matmul'))
    if not isinstance(b, Tensor):
        b = Tensor(_constant(b, 'matmul'))
    sa, sb = a.shape, b.shape
    if not sa or not sb:
        raise ValueError(f'matmul: shapes {sa} and {sb}: a scalar cannot be matrix-multiplied; '
                         f'use * for scaling')
    ka, kb = sa[-1], (sb[-2] if len(sb) > 1 else sb[0])
    if ka != kb:
        raise ValueError(
            f'matmul: shapes {sa} and {sb} do not match: the inner dimensions {ka} (last axis '
            f'of the left) and {kb} ({"first" if len(sb) == 1 else "second-to-last"} axis of '
            f'the right) must be equal. Did you mean to transpose one of them (.T)?')
    try:
        return _apply('matmul', (a, b))
    except ValueError:
        raise ValueError(f'matmul: shapes {sa} and {sb}: the batch axes (all but the last '
                         f'two) {sa[:-2]} and {sb[:-2]} do not broadcast') from None


def _getitem(t, index):
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, list):
        index = np.asarray(index)
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else (np.asarray(i) if isinstance(i, list) else i)
                      for i in index)
    try:
        return _apply('getitem', (t,), index=index)
    except IndexError as err:
        raise IndexError(f'getitem: {err} (tensor shape {t.shape}); an axis of size n takes '
                         f'indices -n..n-1') from None


def linear(x, w, b=None):
    """x @ w + b as one node (what nn.Linear uses): x (..., nin), w (nin, nout), b (nout,).

    Arrays or lists for x, w or b are constants (no gradient); b=None is x @ w."""
    x = x if isinstance(x, Tensor) else Tensor(_constant(x, 'linear'))
    w = w if isinstance(w, Tensor) else Tensor(_constant(w, 'linear'))
    if b is None:
        if w.data.ndim != 2:
            raise ValueError(f'linear: w must have shape (nin, nout), got {w.data.shape}')
        return _matmul(x, w)
    b = b if isinstance(b, Tensor) else Tensor(_constant(b, 'linear'))
    xs, ws, bs = x.data.shape, w.data.shape, b.data.shape
    if len(ws) != 2 or bs != ws[1:]:
        raise ValueError(f'linear: w must have shape (nin, nout) and b shape (nout,), '
                         f'got {ws} and {bs}')
    if not xs or xs[-1] != ws[0]:
        raise ValueError(f'linear: x has shape {xs} but w has shape {ws}: the last '
                         f'axis of x must have size nin = {ws[0]}')
    return _linear(x, w, b)


def _linear(x, w, b):
    # RULES['linear'].forward, inlined, with no checks: linear() and nn.Linear check shapes first
    saved = xd, wd, bd = x.data, w.data, b.data
    return _make(xd @ wd + bd, 'linear', (x, w, b), saved, _NO_CTX)


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis (np.concatenate)."""
    tensors = _tensor_list(tensors, 'concatenate')
    try:
        return _apply('concatenate', tensors, axis=axis)
    except (ValueError, np.exceptions.AxisError) as err:
        shapes = ', '.join(str(t.shape) for t in tensors)
        raise ValueError(f'concatenate: shapes {shapes} along axis {axis}: all axes but '
                         f'axis {axis} must match [{err}]') from None


def stack(tensors, axis=0):
    """Join same-shape tensors along a new axis (np.stack)."""
    tensors = _tensor_list(tensors, 'stack')
    try:
        return _apply('stack', tensors, axis=axis)
    except (ValueError, np.exceptions.AxisError) as err:
        shapes = ', '.join(str(t.shape) for t in tensors)
        raise ValueError(f'stack: shapes {shapes}: stack needs tensors of one shape [{err}]') from None


def _tensor_list(tensors, name):
    tensors = tuple(t if isinstance(t, Tensor) else Tensor(_constant(t, name)) for t in tensors)
    if not tensors:
        raise ValueError(f'{name} needs at least one tensor')
    return tensors


def softmax(x, axis=-1):
    """softmax(x)_i = e^{x_i} / sum_j e^{x_j} along `axis` (max subtracted first: no overflow)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    return _apply('softmax', (x,), axis=_check_axis(axis, x, 'softmax'))


def log_softmax(x, axis=-1):
    """log softmax(x) = x - logsumexp(x) along `axis`, stable for large inputs."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    return _apply('log_softmax', (x,), axis=_check_axis(axis, x, 'log_softmax'))


def cross_entropy(logits, targets):
    """Mean over the batch of -log softmax(logits)[target]: logits (N, C), targets N ints in [0, C)."""
    logits = logits if isinstance(logits, Tensor) else Tensor(logits)
    t = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if logits.ndim != 2:
        raise ValueError(f'cross_entropy: logits must have shape (N, C), got {logits.shape}; '
                         f'for one example use logits.reshape(1, -1)')
    n, c = logits.shape
    if t.dtype.kind not in 'iu':
        if t.dtype.kind == 'f' and t.size and np.all(t == np.round(t)):
            t = t.astype(np.intp)
        else:
            raise TypeError(f'cross_entropy: targets must be class indices (ints in [0, {c})), '
                            f'got dtype {t.dtype}')
    if t.shape != (n,):
        raise ValueError(f'cross_entropy: targets must have shape ({n},), one class per row of '
                         f'logits {logits.shape}, got {t.shape}')
    bad = (t < 0) | (t >= c)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f'cross_entropy: target {int(t[k])} (row {k}) is out of range: with C = {c} '
                         f'classes (logits shape {logits.shape}) targets must be in [0, {c})')
    return _apply('cross_entropy', (logits,), targets=t)


def mse(pred, target):
    """Mean squared error mean((pred - target)^2); shapes must be equal (no silent broadcast)."""
    pred = pred if isinstance(pred, Tensor) else Tensor(pred)
    t = target if isinstance(target, Tensor) else _constant(target, 'mse')
    st = getattr(t, 'shape', ())              # a Tensor's, an array's, or a number's ()
    if pred.data.shape != st:
        raise ValueError(f'mse: pred has shape {pred.shape} and target {st}; they must be equal '
                         f'(broadcasting (N, 1) against (N,) would compare every pair). '
                         f'Fix: target.reshape({pred.shape}) or pred.reshape(-1)')
    return _apply('mse', (pred, t))
