"""`Value`: a scalar that remembers how it was computed (reverse-mode autodiff).

    x = Value(2.0, label='x')
    y = (x * x + 3).tanh()
    y.backward()          # walks the graph once, in reverse topological order
    x.grad                # dy/dx

Every op looks up its row in `ops.OPS`; no derivative is written in this file.
"""
import numbers

import numpy as np

from .graph import Node, _GradMode, _Tracing, topo_sort
from .ops import OPS

__all__ = ['Value']

_REAL = (float, int)


def _describe(x):
    if isinstance(x, Value):
        return f"{x.label or 'a Value'} = {x.data:g}"
    return f'{x!r}'


def _as_number(x, what):
    """A plain float for a number; a clear TypeError for anything else."""
    if x.__class__ is float:
        return x
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        if isinstance(x, np.ndarray) and x.size == 1 and x.dtype.kind in 'fiu':
            return float(x.reshape(()))
        if isinstance(x, Node) and not isinstance(x, Value):
            raise TypeError(f'{what}: a Value and a {type(x).__name__} do not mix; use '
                            f'Tensor(v.data) to turn a scalar Value into a tensor')
        fix = ('convert it first, e.g. float(s)' if isinstance(x, str)
               else 'pass an int or a float' + (' (a Tensor holds arrays)'
                                                if isinstance(x, (list, tuple, np.ndarray)) else ''))
        raise TypeError(f'{what} needs a real number, got {x!r} ({type(x).__name__}): {fix}')
    return float(x)


def _plain(x):
    """A comparison's other side as a number (a Value's data, without float(Value))."""
    return x.data if isinstance(x, Value) else float(x)


def _traced_float_error(x):
    return TypeError(
        f'float() of {_describe(x)} while grad/jvp/jacobian/hessian is tracing f: the result would be a '
        f'plain number, and its derivative would be lost without a word. math.sin(x), math.exp(x) and '
        f'float(x) all do this: use the methods x.sin(), x.exp(), x.tanh() ... (or autodiff_lite.ops.sin, '
        f'which takes numbers and nodes alike); comparisons such as x > 0 work as they are. To read '
        f'only the number (a check such as math.isfinite, a print), use x.data (a Dual: x.primal).')


def _forward_error(row, inputs, err):
    """Turn a bare math error into one that names the op, its inputs and the fix."""
    args = ', '.join(_describe(x) for x in inputs)
    why = row.domain or 'the result is not a finite real number'
    return ValueError(f"{row.name}({args}) is undefined: {why}. "
                      f"Check the inputs' values (labels help: Value(x, label='x')). "
                      f"[{type(err).__name__}: {err}]")


def _new(data, op, prev):
    """Make an op's output node. Skips __init__'s checks: data is already a float."""
    out = Value.__new__(Value)
    out.data = data
    out.grad = 0.0
    out.label = ''
    out._op = op
    if _GradMode.enabled and prev:
        out._prev = prev
        out.requires_grad = True
    else:                       # under no_grad, or only constants in: no graph
        out._prev = ()
        out.requires_grad = False
    return out


def _unary(name, a):
    try:
        data = OPS[name].f(a.data)
    except (ArithmeticError, ValueError) as err:
        raise _forward_error(OPS[name], (a,), err) from None
    return _new(data, name, (a,) if a.requires_grad else ())


def _binary(name, a, b):
    """a <op> b where one side may be a plain number (kept in the graph as a constant)."""
    if a.__class__ is Value:
        ad = a.data
    else:
        a = ad = _as_number(a, f"'{name}' with a Value")
    if b.__class__ is Value:
        bd = b.data
    else:
        b = bd = _as_number(b, f"'{name}' with a Value")
    try:
        data = OPS[name].f(ad, bd)
    except (ArithmeticError, ValueError) as err:
        raise _forward_error(OPS[name], (a, b), err) from None
    if isinstance(data, complex):
        raise _forward_error(OPS[name], (a, b), ValueError('complex result'))
    needs = ((a.__class__ is Value and a.requires_grad)
             or (b.__class__ is Value and b.requires_grad))
    return _new(data, name, (a, b) if needs else ())


def _variadic(name, inputs):
    """One node over many inputs (the `sum` and `dot` rows)."""
    inputs = tuple(inputs)
    datas = [x.data if x.__class__ is Value else x for x in inputs]
    if set(map(type, datas)) != {float}:         # ints or bad input: the slow path
        inputs = tuple(x if x.__class__ is Value else _as_number(x, f'Value.{name}') for x in inputs)
        datas = [x.data if x.__class__ is Value else x for x in inputs]
    data = OPS[name].f(*datas)
    needs = any(x.__class__ is Value and x.requires_grad for x in inputs)
    return _new(data, name, inputs if needs else ())


class Value(Node):
    """A scalar node: `data`, `grad`, `label`; `_op` and `_prev` record how it was made."""
    __slots__ = ('data', 'grad', 'label', 'requires_grad', '_op', '_prev')

    def __init__(self, data, label='', requires_grad=True):
        self.data = _as_number(data, 'Value()')
        self.grad = 0.0
        self.label = label
        self.requires_grad = bool(requires_grad)
        self._op = ''
        self._prev = ()

    def __repr__(self):
        name = f', label={self.label!r}' if self.label else ''
        g = self.grad.data if isinstance(self.grad, Value) else self.grad   # (a Value after create_graph)
        return f'Value(data={self.data:.6g}, grad={g:.6g}{name})'

    # --- arithmetic: numbers on either side -------------------------------------
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

    # --- functions ------------------------------------------------------------------
    def exp(self): return _unary('exp', self)
    def log(self): return _unary('log', self)
    def sqrt(self): return _unary('sqrt', self)
    def tanh(self): return _unary('tanh', self)
    def sigmoid(self): return _unary('sigmoid', self)
    def relu(self): return _unary('relu', self)
    def sin(self): return _unary('sin', self)
    def cos(self): return _unary('cos', self)
    def abs(self): return _unary('abs', self)

    @staticmethod
    def sum(values):
        """x_1 + ... + x_n as one node (Python's sum() makes a chain of n - 1 nodes)."""
        values = list(values)
        if not values:
            return Value(0.0, requires_grad=False)
        return _variadic('sum', values)

    @staticmethod
    def dot(w, x):
        """w_1 x_1 + ... + w_n x_n as one node (a neuron's weighted sum)."""
        w, x = list(w), list(x)
        if len(w) != len(x):
            raise ValueError(f'dot needs two sequences of the same length, got {len(w)} and {len(x)}')
        if not w:
            return Value(0.0, requires_grad=False)
        return _variadic('dot', w + x)

    def detach(self):
        """A new leaf with the same data and no history (gradients stop here)."""
        return Value(self.data, label=self.label, requires_grad=False)

    def __float__(self):
        if _Tracing.inputs and self.requires_grad:  # (a constant, or a Value f does not trace, loses nothing)
            graph = topo_sort(self)
            if any(not traced.isdisjoint(graph) for traced in _Tracing.inputs):
                raise _traced_float_error(self)
        return float(self.data)

    # ordering looks at data, so `if x > 0:` works in traced code; == stays identity
    # (nodes are dict keys and set members in every graph walk)
    def __lt__(self, other): return self.data < _plain(other)
    def __le__(self, other): return self.data <= _plain(other)
    def __gt__(self, other): return self.data > _plain(other)
    def __ge__(self, other): return self.data >= _plain(other)

    def item(self):
        return self.data

    def zero_grad(self):
        self.grad = 0.0

    def is_leaf(self):
        return not self._prev

    # --- reverse mode -----------------------------------------------------------------
    def backward(self, grad=1.0, create_graph=False):
        """Fill `.grad` of every node this one depends on, d self / d node.

        Leaves accumulate across calls (`+=`, as in PyTorch: call `zero_grad()`
        between steps); interior nodes are reset first, so a second call never
        reuses a stale interior gradient. `create_graph=True` makes each
        gradient a `Value` with its own graph, for gradients of gradients.
        """
        if not self.requires_grad:
            raise RuntimeError('backward(): this Value does not require grad and has no graph (it was '
                               'computed under no_grad(), from constants only, or made with '
                               'requires_grad=False). Compute it outside no_grad() from Values '
                               'that require grad.')
        backward([self], [grad], create_graph=create_graph)


def backward(roots, seeds, create_graph=False):
    """Reverse-mode pass from several roots at once, each seeded with its gradient."""
    for root in roots:
        if not isinstance(root, Value):
            raise TypeError(f'backward() needs Value roots, got {type(root).__name__}')
    seeds = [s if (create_graph and isinstance(s, Value)) else _as_number(s, 'backward(grad=...)')
             for s in seeds]
    order = topo_sort(roots)
    for node in order:                        # no stale interior gradients
        if node._prev:
            node.grad = 0.0
    if create_graph:
        for node in order:
            if not isinstance(node.grad, Value):
                node.grad = Value(node.grad, requires_grad=False)
    for root, seed in zip(roots, seeds):
        root.grad = root.grad + seed
    if create_graph:
        _backward_graph(order)
    else:
        _backward_numbers(order)


def _derivative_error(row, inputs, err):
    """A partial that cannot be evaluated (sqrt'(0), pow at 0 ...): name the op, its inputs and why."""
    args = ', '.join(_describe(x) for x in inputs)
    if isinstance(err, OverflowError):
        why = 'it is too large for a float'
    else:
        why = row.domain or 'the derivative is not a finite real number there'
    fix = 'Move the input away from that point'
    if row.name == 'pow' and isinstance(inputs[1], Value) and not isinstance(err, OverflowError):
        fix += ('; pass a fixed exponent as a plain number (x ** 2, not x ** Value(2)): '
                'then no derivative in it is needed')
    return ValueError(f"the derivative of {row.name}({args}) is undefined or infinite: {why}. "
                      f"{fix}. [{type(err).__name__}: {err}]")


def _backward_numbers(order):
    """The hot loop: plain floats, inputs unpacked by arity to keep it quick."""
    ops = OPS
    V = Value
    try:
        for node in reversed(order):
            prev = node._prev
            if not prev:
                continue
            g = node.grad
            row = ops[node._op]
            partials = row.partials
            if row.variadic:
                datas = [p.data if p.__class__ is V else p for p in prev]
                for p, d in zip(prev, partials[0](datas, node.data)):
                    if p.__class__ is V and p.requires_grad:
                        p.grad += d * g
            elif len(prev) == 2:
                a, b = prev
                ad = a.data if a.__class__ is V else a
                bd = b.data if b.__class__ is V else b
                out = node.data
                if a.__class__ is V and a.requires_grad:
                    a.grad += partials[0](ad, bd, out) * g
                if b.__class__ is V and b.requires_grad:
                    b.grad += partials[1](ad, bd, out) * g
            else:
                a = prev[0]
                a.grad += partials[0](a.data, node.data) * g
    except (ArithmeticError, ValueError) as err:     # sqrt'(0), (-2)**y in y ...: say where
        raise _derivative_error(ops[node._op], node._prev, err) from None


def _backward_graph(order):
    """Same walk, but partials are evaluated on the nodes themselves, so every
    gradient is a Value whose own graph can be differentiated again."""
    for node in reversed(order):
        prev = node._prev
        if not prev:
            continue
        g = node.grad
        row = OPS[node._op]
        for i, p in enumerate(prev):
            if isinstance(p, Value) and p.requires_grad:
                try:
                    partial = row.partial(i, prev, node)
                except (ArithmeticError, ValueError) as err:
                    raise _derivative_error(row, prev, err) from None
                p.grad = p.grad + partial * g
