"""`Dual`: forward-mode autodiff with dual numbers, a + b·ε where ε² = 0.

    x = Dual(3.0, 1.0)      # seed: dx/dx = 1
    y = x * x + x.sin()
    y.primal, y.tangent     # f(3), f'(3)

The tangent is pushed forward with the same partials `Value` uses backwards:
tangent_out = Σ_i partial_i · tangent_i (ops.OPS is the only place they live).
Duals nest (a Dual whose primal is a Dual) for higher derivatives.
"""
from .ops import OPS
from .value import _as_number, _forward_error

__all__ = ['Dual']


def _split(x, name):
    if isinstance(x, Dual):
        return x.primal, x.tangent
    return _as_number(x, f"'{name}' with a Dual"), 0.0


def _apply(name, *inputs):
    row = OPS[name]
    split = [_split(x, name) for x in inputs]
    primals = [p for p, _ in split]
    try:
        out = row.f(*primals)
    except (ArithmeticError, ValueError) as err:
        raise _forward_error(row, primals, err) from None
    if isinstance(out, complex):
        raise _forward_error(row, primals, ValueError('complex result'))
    tangent = 0.0
    # only inputs that carry a tangent contribute (a constant's partial may not even exist,
    # e.g. the exponent's partial log(a) for a negative base)
    for i, (_, t) in enumerate(split):
        if not (isinstance(t, float) and t == 0.0):
            tangent = tangent + row.partial(i, primals, out) * t
    return Dual(out, tangent)


class Dual:
    """A number with a tangent riding along: `primal` = f(x), `tangent` = f'(x)·ẋ."""
    __slots__ = ('primal', 'tangent')

    def __init__(self, primal, tangent=0.0):
        self.primal = primal if isinstance(primal, Dual) else _as_number(primal, 'Dual() primal')
        self.tangent = tangent if isinstance(tangent, Dual) else _as_number(tangent, 'Dual() tangent')

    def __repr__(self):
        return f'Dual(primal={self.primal!r}, tangent={self.tangent!r})'

    def __add__(self, other): return _apply('add', self, other)
    def __radd__(self, other): return _apply('add', other, self)
    def __sub__(self, other): return _apply('sub', self, other)
    def __rsub__(self, other): return _apply('sub', other, self)
    def __mul__(self, other): return _apply('mul', self, other)
    def __rmul__(self, other): return _apply('mul', other, self)
    def __truediv__(self, other): return _apply('div', self, other)
    def __rtruediv__(self, other): return _apply('div', other, self)
    def __pow__(self, other): return _apply('pow', self, other)
    def __rpow__(self, other): return _apply('pow', other, self)
    def __neg__(self): return _apply('neg', self)
    def __abs__(self): return _apply('abs', self)

    def exp(self): return _apply('exp', self)
    def log(self): return _apply('log', self)
    def sqrt(self): return _apply('sqrt', self)
    def tanh(self): return _apply('tanh', self)
    def sigmoid(self): return _apply('sigmoid', self)
    def relu(self): return _apply('relu', self)
    def sin(self): return _apply('sin', self)
    def cos(self): return _apply('cos', self)
    def abs(self): return _apply('abs', self)

    @staticmethod
    def sum(values):
        return _apply('sum', *values)

    @staticmethod
    def dot(w, x):
        w, x = list(w), list(x)
        if len(w) != len(x):
            raise ValueError(f'dot needs two sequences of the same length, got {len(w)} and {len(x)}')
        return _apply('dot', *w, *x)

    # comparisons look at the primal, so `if x > 0:` works inside traced functions
    def __lt__(self, other): return self.primal < _split(other, '<')[0]
    def __le__(self, other): return self.primal <= _split(other, '<=')[0]
    def __gt__(self, other): return self.primal > _split(other, '>')[0]
    def __ge__(self, other): return self.primal >= _split(other, '>=')[0]

    def __float__(self):
        return float(self.primal)
