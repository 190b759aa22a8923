"""`Tensor`: a numpy array that remembers how it was computed (reverse mode).

    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    x.grad                    # array([2., 4., 6.]), always the shape of x.data

Derivatives live in two tables only:

* elementwise ops (`+ - * / ** exp log tanh sigmoid relu ...`, and any row
  added with `ops.define_op`) use the partials of `ops.OPS`, exactly as
  `Value` does, then `unbroadcast` sums the gradient back to each input's shape;
* everything else (matmul, reductions, reshaping, indexing, softmax) has a row
  in `tensor_rules.RULES`, and the fused losses in `losses.py`: a forward function
  and one vector-Jacobian product (VJP) per input, `vjp(grad_out, out, *inputs)`.

The graph is the same as `Value`'s: `_prev` holds the op's inputs in order
(a constant array or number is kept raw and gets no gradient), `_op` the
name, and `backward()` walks `graph.topo_sort` in reverse, as `Value` does.
"""
import numbers

import numpy as np

from . import errors
from .graph import Node, topo_sort
from .modes import GradMode, no_grad
from .ops import OPS, Operators
from .tensor_rules import RULES, Rule, is_basic_index, unbroadcast

__all__ = ['Tensor', 'RULES', 'Rule', 'unbroadcast', 'linear', 'concatenate', 'stack',
           'softmax', 'log_softmax', 'cross_entropy', 'mse', 'no_grad', 'rule_node', 'as_constant',
           'seed_of', 'walk_arrays', 'make_node']

_NO_CTX = {}


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


def as_constant(x, name):
    """An op's input that is not a Tensor: kept raw (a number or an array), gets no gradient."""
    if isinstance(x, (np.ndarray, np.generic)) or (isinstance(x, numbers.Real)):
        return x
    if isinstance(x, (list, tuple)):
        return _as_array(x, None, f'{name} with a list')
    if isinstance(x, Operators):
        raise errors.mix_error(name, ['Tensor', type(x).__name__])
    raise TypeError(f'{name}: cannot combine a Tensor with {type(x).__name__} {x!r}')


def make_node(data, op, prev, saved=(), ctx=None):
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
    if GradMode.enabled:
        for p in prev:
            if isinstance(p, Tensor) and p.requires_grad:
                out._prev = prev
                out._saved = saved
                out.requires_grad = True
                return out
    out._prev = out._saved = ()   # under no_grad, or no input requires grad: no graph
    out.requires_grad = False
    return out


def _elementwise(name, inputs):
    """A row of ops.OPS on arrays, entry by entry (numpy broadcasting the shapes)."""
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
                raise errors.broadcast_error(name, sa, sb) from None
        raise
    return make_node(data, name, inputs, datas)


def rule_node(name, inputs, **ctx):
    """Run a RULES row forward and record the node (`ctx`: the row's settings, e.g. axis)."""
    datas = [x.data if isinstance(x, Tensor) else x for x in inputs]
    data = RULES[name].f(*datas, **ctx)
    return make_node(data, name, tuple(inputs), datas, ctx or _NO_CTX)


# --- the Tensor class -----------------------------------------------------------------
class Tensor(Node):
    """An array node: `data` (numpy), `grad` (None until backward, then data's shape).

    `Tensor(data, requires_grad=False, dtype=None)`: floats default to float64
    (pass dtype=np.float32 for speed). A numpy array is used without a copy,
    except for a tensor that requires grad (an optimizer updates it in place).
    Backward reads the arrays the forward pass used, so change no `.data` in place
    between an op and its backward() (PyTorch raises there; this engine cannot tell).
    """
    __slots__ = ('data', 'grad', 'label', 'requires_grad', '_op', '_prev', '_saved', '_ctx')
    __array_ufunc__ = None      # so ndarray + Tensor calls Tensor.__radd__
    _rank = 3                   # a Tensor never takes a Value or Dual in (errors.mix_error)
    # `==` stays identity for tensors (an elementwise == would make `t in list` ambiguous):
    # compare entries with t.data == u.data
    __eq__, __ne__, __hash__ = object.__eq__, object.__ne__, object.__hash__

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
        return make_node(self.data, '', ())

    @staticmethod
    def _apply(name, *inputs):
        """Row `name` of ops.OPS entry by entry; a number or array input is a constant."""
        row = OPS[name]
        if len(inputs) == 1 and not row.domain:   # exp, tanh, relu ...: nothing to check
            a = inputs[0].data
            return make_node(row.f(a), name, inputs, (a,))
        kinds = [type(x).__name__ for x in inputs if isinstance(x, Operators)]
        if set(kinds) != {'Tensor'}:
            raise errors.mix_error(name, kinds)
        return _elementwise(name, tuple(x if isinstance(x, Tensor) else as_constant(x, name)
                                        for x in inputs))

    # --- rows of tensor_rules.RULES ---------------------------------------------------------------
    def __matmul__(self, other):
        return _matmul(self, other)

    def __rmatmul__(self, other):
        return _matmul(other, self)

    def sum(self, axis=None, keepdims=False):
        """Sum over `axis` (all axes by default)."""
        return rule_node('sum', (self,), axis=_check_axis(axis, self, 'sum'), keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        """Mean over `axis` (all axes by default)."""
        return rule_node('mean', (self,), axis=_check_axis(axis, self, 'mean'), keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        """Largest entry over `axis`; ties share the gradient evenly."""
        if self.data.size == 0:
            raise ValueError('max of an empty tensor is undefined')
        return rule_node('max', (self,), axis=_check_axis(axis, self, 'max'), keepdims=keepdims)

    def reshape(self, *shape):
        """Same entries, new shape: t.reshape(2, 3) or t.reshape((2, 3)); -1 is inferred."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        try:
            return rule_node('reshape', (self,), shape=shape)
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
        return rule_node('transpose', (self,), axes=tuple(a % n for a in axes) or None)

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
            raise errors.no_graph_error('Tensor')
        grad = seed_of(self, grad)
        order = topo_sort(self)
        for node in order:                    # no stale interior gradients
            if node._prev:
                node.grad = None
        self.grad = grad if self.grad is None else np.asarray(self.grad + grad)
        walk_arrays(order)


def seed_of(t, grad=None):
    """The gradient backward starts from at `t`: 1 for a one-element tensor, else `grad` (t's shape)."""
    if grad is None:
        if t.data.size != 1:
            raise RuntimeError(
                f'grad can be implicitly created only for scalar outputs; pass grad= with '
                f'shape {t.shape} (e.g. backward(grad=np.ones({t.shape}))), '
                f'or reduce first with .sum() or .mean()')
        return np.array(1, t.data.dtype).reshape(t.data.shape)
    grad = np.array(grad.data if isinstance(grad, Tensor) else grad, dtype=t.data.dtype)
    if grad.shape != t.shape:
        raise ValueError(f'backward(grad=...): grad has shape {grad.shape} but this tensor '
                         f'has shape {t.shape}; they must be equal')
    return grad


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


def walk_arrays(order):
    """`Value`'s walk for arrays: nodes in reverse topological order, each passing
    grad_out times its partial (OPS, then unbroadcast) or its VJP (RULES) to its inputs.

    This loop is the tensor engine's hot path, hence the local names, the unary
    shortcut and `_accumulate` inlined for its usual case; the maths is all
    in OPS (partial * grad_out) and RULES (VJPs).
    """
    rules, ops, T, accumulate = RULES, OPS, Tensor, _accumulate
    for node in reversed(order):
        prev = node._prev
        if not prev:
            continue                          # a leaf: nothing to pass on
        datas, g, out = node._saved, node.grad, node.data
        # (an elementwise node has no _ctx: OPS and RULES share a name, `sum`)
        rule = rules.get(node._op) if node._ctx is not None else None
        if rule is None:                      # elementwise: partial * grad_out, unbroadcast
            row = ops[node._op]
            partials = row.partials
            if len(prev) == 1 and not row.variadic:   # unary: a tensor that needs grad
                p, c = prev[0], g * partials[0](datas[0], out)
                if p.grad is None and c.__class__ is np.ndarray and c.dtype is p.data.dtype:
                    p.grad = c                # the usual case: p's first gradient, a new array
                else:
                    accumulate(p, c, g)
                continue
            every = partials[0](list(datas), out) if row.variadic else None   # sum, dot
            for i, p in enumerate(prev):
                if isinstance(p, T) and p.requires_grad:
                    d = every[i] if every is not None else partials[i](*datas, out)
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
    """axis as numpy takes it; a 0-d tensor accepts -1 and 0 as PyTorch does (its one entry)."""
    if axis is None:
        return None
    axes = axis if isinstance(axis, tuple) else (axis,)
    n = max(t.ndim, 1)
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f'{name}: axis must be an int or a tuple of ints, got {axis!r} '
                            f'({type(axis).__name__})' + (f': write axis={tuple(axis)}'
                                                          if isinstance(axis, list) else ''))
        if not -n <= a < n:
            raise ValueError(f'{name}: axis {a} is out of range for a tensor of shape {t.shape} '
                             f'({t.ndim} axes: use {"-1 or 0" if t.ndim == 0 else f"0..{t.ndim - 1}"} '
                             f'or negative from the end)')
    return None if t.ndim == 0 else axis


def _matmul(a, b):
    if not isinstance(a, Tensor):
        a = Tensor(as_constant(a, 'matmul'))
    if not isinstance(b, Tensor):
        b = Tensor(as_constant(b, 'matmul'))
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
        return rule_node('matmul', (a, b))
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
        return rule_node('getitem', (t,), index=index)
    except IndexError as err:
        raise IndexError(f'getitem: {err} (tensor shape {t.shape}); an axis of size n takes '
                         f'indices -n..n-1') from None


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis (np.concatenate)."""
    return _join('concatenate', tensors, axis, f' along axis {axis}: all axes but axis {axis} must match')


def stack(tensors, axis=0):
    """Join same-shape tensors along a new axis (np.stack)."""
    return _join('stack', tensors, axis, ': stack needs tensors of one shape')


def _join(name, tensors, axis, rule):
    tensors = _tensor_list(tensors, name)
    try:
        return rule_node(name, tensors, axis=axis)
    except (ValueError, np.exceptions.AxisError) as err:
        shapes = ', '.join(str(t.shape) for t in tensors)
        raise ValueError(f'{name}: shapes {shapes}{rule} [{err}]') from None


def _tensor_list(tensors, name):
    tensors = tuple(t if isinstance(t, Tensor) else Tensor(as_constant(t, name)) for t in tensors)
    if not tensors:
        raise ValueError(f'{name} needs at least one tensor')
    return tensors


def softmax(x, axis=-1):
    """softmax(x)_i = e^{x_i} / sum_j e^{x_j} along `axis` (max subtracted first: no overflow)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    return rule_node('softmax', (x,), axis=_check_axis(axis, x, 'softmax'))


def log_softmax(x, axis=-1):
    """log softmax(x) = x - logsumexp(x) along `axis`, stable for large inputs."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    return rule_node('log_softmax', (x,), axis=_check_axis(axis, x, 'log_softmax'))


# the fused layer and losses (their own file), here too for `from autodiff_lite.tensor import ...`
from .losses import cross_entropy, linear, mse  # noqa: E402
