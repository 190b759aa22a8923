"""The primitive table: the only place in autodiff_lite where calculus lives.

Each row gives an op's forward function and one local partial per input. A
partial is a plain function of the inputs and the output, so the same row
serves every engine:

* `Value` (reverse mode) uses it backwards: ``parent.grad += partial * grad_out``
* `Dual` (forward mode) uses it forwards: ``tangent = sum(partial * input tangent)``
* `Tensor` uses it elementwise on numpy arrays (then `unbroadcast`)

Because the partials only use operators and the helpers below (`exp`, `log`,
`cos`, ...), evaluating them on `Value`s builds a graph of the gradient: that
is how gradients of gradients work.
"""
import math
import operator

import numpy as np

__all__ = ['Op', 'OPS', 'exp', 'log', 'sqrt', 'tanh', 'sin', 'cos', 'step', 'sign']


# --- helpers that work on floats, numpy arrays and our own node types --------
def _lift(method, math_fn, np_fn):
    def fn(x):
        if isinstance(x, (float, int)):
            return math_fn(x)
        if isinstance(x, (np.ndarray, np.generic)):
            return np_fn(x)
        return getattr(x, method)()       # Value, Dual, Tensor: build the op
    fn.__name__ = method
    return fn


exp = _lift('exp', math.exp, np.exp)
log = _lift('log', math.log, np.log)
sqrt = _lift('sqrt', math.sqrt, np.sqrt)
tanh = _lift('tanh', math.tanh, np.tanh)
sin = _lift('sin', math.sin, np.sin)
cos = _lift('cos', math.cos, np.cos)


def _data(x):
    """The plain number or array inside a node (or x itself)."""
    while hasattr(x, 'data') and not isinstance(x, np.ndarray):
        x = x.data
    return x


def step(x):
    """Heaviside step: 1 where x > 0, else 0. Its own derivative is 0 (a constant).

    On arrays it is the boolean mask itself: grad_out * mask is then one pass
    over the data with grad_out's dtype, with no float copy of the mask first.
    """
    if x.__class__ is not np.ndarray:     # (arrays first: the Tensor ReLU's hot path)
        x = _data(x)
        if not isinstance(x, np.ndarray):
            return 1.0 if x > 0 else 0.0
    return x > 0


def sign(x):
    """-1, 0 or 1: the derivative of |x| (taken as 0 at 0). A constant."""
    x = _data(x)
    if isinstance(x, np.ndarray):
        return np.sign(x) if x.dtype.kind == 'f' else np.sign(x).astype(float)
    return float((x > 0) - (x < 0))


def _pow(a, b):
    # math.pow raises on a negative base with a fractional exponent, where
    # a ** b would quietly return a complex number.
    if isinstance(a, (float, int)) and isinstance(b, (float, int)):
        return math.pow(a, b)
    return a ** b


_NUMBER = (float, int, np.floating, np.integer)


def _dpow_base(a, b, out):
    # d(a^b)/da = b a^(b-1). For b = 0, a^0 = 1 is a constant: 0, even at a = 0
    # (where a^(b-1) itself does not exist).
    if isinstance(b, np.ndarray):         # where b = 0, take a = 1: b a^(b-1) = 0 there
        return b * np.where(b == 0, 1.0, a) ** (b - 1.0)
    if isinstance(b, _NUMBER):
        if b == 0:
            return 0.0
    elif _data(b) == 0 and _data(a) == 0:   # nodes (gradients of gradients) at that same point
        return 0.0
    return b * _pow(a, b - 1.0)


def _dpow_exponent(a, b, out):
    # d(a^b)/db = a^b ln a. At a = 0 the limit is 0 (0^b = 0 for every b > 0),
    # though ln 0 does not exist; a negative base has no such derivative at all.
    if isinstance(a, np.ndarray):         # where a = 0, take ln 1 = 0 instead of ln 0
        return out * np.log(np.where(a == 0, 1.0, a))
    if (a if isinstance(a, _NUMBER) else _data(a)) == 0:   # a number, or a node (grad of grad)
        return 0.0
    return out * log(a)


def _sigmoid(a):
    # 1 / (1 + e^-a) never overflows written as 0.5 + 0.5 tanh(a/2), but for very
    # negative a that loses every digit (exactly 0 below -37; float32: below -17):
    # there e^a / (1 + e^a) is used, accurate to a few ulps.
    if isinstance(a, (float, int)):
        if a >= 0:
            return 1.0 / (1.0 + math.exp(-a))
        e = math.exp(a)
        return e / (1.0 + e)
    if isinstance(a, (np.ndarray, np.generic)):
        out = np.asarray(np.tanh(0.5 * a))   # (tanh is fast in numpy; exp on every entry is not)
        out *= 0.5
        out += 0.5
        low = a < -4.0
        if low.any():
            e = np.exp(a[low])
            out[low] = e / (1.0 + e)
        return out
    return a.sigmoid()                    # Value, Dual, Tensor: build the op


def _relu(a):
    if isinstance(a, np.ndarray):
        return np.maximum(a, 0)
    return a if a > 0 else 0.0


# --- the table ----------------------------------------------------------------
class Op:
    """One primitive: forward `f(*inputs)` and `partials[i](*inputs, out)` = d out / d input i.

    A variadic row (`sum`, `dot`) takes any number of inputs; its one partials
    function `partials[0](inputs, out)` returns the partial for every input.
    """
    __slots__ = ('name', 'f', 'partials', 'symbol', 'domain', 'variadic')

    def __init__(self, name, f, partials, symbol, domain='', variadic=False):
        self.name, self.f, self.partials = name, f, partials
        self.symbol = symbol      # how a graph drawing labels the op node
        self.domain = domain      # what the inputs must satisfy, for error messages
        self.variadic = variadic

    @property
    def arity(self):
        return None if self.variadic else len(self.partials)

    def partial(self, i, inputs, out):
        """d out / d inputs[i], for any row."""
        if self.variadic:
            return self.partials[0](inputs, out)[i]
        return self.partials[i](*inputs, out)

    def __repr__(self):
        return f'Op({self.name!r}, arity={self.arity})'


OPS = {}


def _row(name, symbol, f, *partials, domain='', variadic=False):
    OPS[name] = Op(name, f, partials, symbol, domain, variadic)


def _dot(*inputs):
    n = len(inputs) // 2
    return sum(map(operator.mul, inputs[:n], inputs[n:]))


#    name       symbol  forward                       partial per input (inputs..., out)
_row('add',     '+',    lambda a, b: a + b,           lambda a, b, out: 1.0,
                                                      lambda a, b, out: 1.0)
_row('sub',     '-',    lambda a, b: a - b,           lambda a, b, out: 1.0,
                                                      lambda a, b, out: -1.0)
_row('mul',     '*',    lambda a, b: a * b,           lambda a, b, out: b,
                                                      lambda a, b, out: a)
_row('div',     '/',    lambda a, b: a / b,           lambda a, b, out: 1.0 / b,
                                                      lambda a, b, out: -out / b,
     domain='the divisor must not be 0')
_row('pow',     '**',   _pow,                         _dpow_base,       # b a^(b-1)
                                                      _dpow_exponent,   # a^b ln a
     domain='a negative base needs an integer exponent, and 0 needs a positive one '
            '(a^b at a = 0 has no derivative in a for 0 < b < 1, nor in b for a < 0)')
_row('neg',     'neg',  lambda a: -a,                 lambda a, out: -1.0)
_row('exp',     'exp',  exp,                          lambda a, out: out)
_row('log',     'log',  log,                          lambda a, out: 1.0 / a,
     domain='log needs a positive input')
_row('sqrt',    'sqrt', sqrt,                         lambda a, out: 0.5 / out,
     domain='sqrt needs a non-negative input (and a positive one for its gradient)')
_row('tanh',    'tanh', tanh,                         lambda a, out: 1.0 - out * out)
_row('sigmoid', 'σ',    _sigmoid,
                                                      lambda a, out: out * (1.0 - out))
_row('relu',    'ReLU', _relu,                        lambda a, out: step(a))
_row('sin',     'sin',  sin,                          lambda a, out: cos(a))
_row('cos',     'cos',  cos,                          lambda a, out: -sin(a))
_row('abs',     'abs',  abs,                          lambda a, out: sign(a))

# Variadic rows: one node for a whole sum, or a whole w . x, instead of a chain
# of binary nodes. Inputs of `dot` are w_1..w_n, x_1..x_n;
# d(w . x)/d w_i = x_i and d(w . x)/d x_i = w_i: each input's partial is its partner.
_row('sum',     'Σ',    lambda *xs: sum(xs),          lambda xs, out: [1.0] * len(xs),
     variadic=True)
_row('dot',     '·',    _dot,                         lambda xs, out: xs[len(xs) // 2:] + xs[:len(xs) // 2],
     variadic=True)
