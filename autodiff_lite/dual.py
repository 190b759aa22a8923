"""`Dual`: forward-mode autodiff with dual numbers, a + b·ε where ε² = 0.

    x = Dual(3.0, 1.0)      # seed: dx/dx = 1
    y = x * x + x.sin()
    y.primal, y.tangent     # f(3), f'(3)

The tangent is pushed forward with the same partials `Value` uses backwards:
tangent_out = Σ_i partial_i · tangent_i (ops.OPS is the only place they live).
Duals nest (a Dual whose primal is a Dual) for higher derivatives.
"""
from .graph import _Tracing
from .ops import OPS
from .value import _as_number, _derivative_error, _forward_error, _traced_float_error

__all__ = ['Dual']


def _split(x, name):
    if isinstance(x, Dual):
        return x.primal, x.tangent
    return _as_number(x, f"'{name}' with a Dual"), 0.0


def _unary(name, a):
    row = OPS[name]
    p, t = a.primal, a.tangent
    try:
        out = row.f(p)
    except (ArithmeticError, ValueError) as err:
        raise _forward_error(row, (p,), err) from None
    if t.__class__ is float and t == 0.0:     # a constant: its partial is not needed (sqrt'(0))
        return _new(out, 0.0)
    try:
        return _new(out, row.partials[0](p, out) * t)
    except (ArithmeticError, ValueError) as err:
        raise _derivative_error(row, (p,), err) from None


def _binary(name, a, b):
    """a <op> b for Duals or plain numbers (a number is a constant: tangent 0)."""
    row = OPS[name]
    ap, at = (a.primal, a.tangent) if a.__class__ is Dual else _split(a, name)
    bp, bt = (b.primal, b.tangent) if b.__class__ is Dual else _split(b, name)
    try:
        out = row.f(ap, bp)
    except (ArithmeticError, ValueError) as err:
        raise _forward_error(row, (ap, bp), err) from None
    if isinstance(out, complex):
        raise _forward_error(row, (ap, bp), ValueError('complex result'))
    # only inputs that carry a tangent contribute (a constant's partial may not even
    # exist, e.g. the exponent's partial log(a) for a negative base)
    tangent = 0.0
    try:
        if not (at.__class__ is float and at == 0.0):
            tangent = row.partials[0](ap, bp, out) * at
        if not (bt.__class__ is float and bt == 0.0):
            tangent = tangent + row.partials[1](ap, bp, out) * bt
    except (ArithmeticError, ValueError) as err:
        raise _derivative_error(row, (ap, bp), err) from None
    return _new(out, tangent)


def _variadic(name, inputs):
    row = OPS[name]
    split = [_split(x, name) for x in inputs]
    primals = [p for p, _ in split]
    out = row.f(*primals)
    partials = row.partials[0](primals, out)
    tangent = 0.0
    for d, (_, t) in zip(partials, split):
        if not (t.__class__ is float and t == 0.0):
            tangent = tangent + d * t
    return _new(out, tangent)


def _new(primal, tangent):
    """Make a Dual without __init__'s checks (both parts are already numbers or Duals)."""
    out = Dual.__new__(Dual)
    out.primal = primal
    out.tangent = tangent
    return out


class Dual:
    """A number with a tangent riding along: `primal` = f(x), `tangent` = f'(x)·ẋ."""
    __slots__ = ('primal', 'tangent')

    def __init__(self, primal, tangent=0.0):
        self.primal = primal if isinstance(primal, Dual) else _as_number(primal, 'Dual() primal')
        self.tangent = tangent if isinstance(tangent, Dual) else _as_number(tangent, 'Dual() tangent')

    def __repr__(self):
        return f'Dual(primal={self.primal!r}, tangent={self.tangent!r})'

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

    @staticmethod
    def sum(values):
        return _variadic('sum', list(values))

    @staticmethod
    def dot(w, x):
        w, x = list(w), list(x)
        if len(w) != len(x):
            raise ValueError(f'dot needs two sequences of the same length, got {len(w)} and {len(x)}')
        return _variadic('dot', w + x)

    # comparisons look at the primal, so `if x > 0:` works inside traced functions
    def __lt__(self, other): return self.primal < _split(other, '<')[0]
    def __le__(self, other): return self.primal <= _split(other, '<=')[0]
    def __gt__(self, other): return self.primal > _split(other, '>')[0]
    def __ge__(self, other): return self.primal >= _split(other, '>=')[0]

    def __float__(self):
        if _Tracing.inputs and not (self.tangent.__class__ is float and self.tangent == 0.0):
            raise _traced_float_error(self)       # (a Dual with tangent 0 is a constant: nothing lost)
        return float(self.primal)
