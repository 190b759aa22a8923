"""Careful floating point for the table's forward functions: no calculus here.

`ops.py` names, for each op, a forward function and its partials. Most forwards
are one expression (`a + b`); the ones here take a little care that has nothing
to do with derivatives, so they live apart and `ops.py` reads as a table:

* a float goes through `math` (which raises on a domain error such as log(-1),
  so the engine can say what went wrong), an array through numpy;
* overflow gives inf, as numpy, PyTorch and `x * x` give, not an exception;
* the sigmoid never overflows and keeps its digits for very negative inputs.

Every function takes floats and numpy arrays alike (the Tensor engine runs the
same rows elementwise).
"""
import math
import operator

import numpy as np

__all__ = ['elementwise', 'power', 'sigmoid', 'relu', 'dot',
           'exp', 'log', 'sqrt', 'tanh', 'sin', 'cos']


def elementwise(math_fn, np_fn):
    """A forward of one input: floats through `math_fn`, arrays through `np_fn`."""
    def forward(x):
        if isinstance(x, (float, int)):
            try:
                return math_fn(x)
            except OverflowError:             # e^1000: inf, as numpy, PyTorch and x * x give
                return _overflowed(np_fn, x)
        return np_fn(x)
    forward.__name__ = np_fn.__name__
    return forward


def _overflowed(np_fn, *xs):
    """The float numpy gives where math overflows: ±inf (the sign numpy works out)."""
    with np.errstate(over='ignore'):
        return float(np_fn(*(np.float64(x) for x in xs)))


def power(a, b):
    """a ** b. On floats through math.pow, which raises on a negative base with a
    fractional exponent where a ** b would quietly return a complex number."""
    if isinstance(a, (float, int)) and isinstance(b, (float, int)):
        try:
            return math.pow(a, b)
        except OverflowError:                 # 1e200 ** 2: inf, not a domain error
            return _overflowed(np.power, a, b)
    return a ** b


def sigmoid(a):
    """1 / (1 + e^-a), computed so that it neither overflows nor loses its digits.

    Written as 0.5 + 0.5 tanh(a/2) it never overflows, but for very negative a
    that loses every digit (exactly 0 below -37; float32: below -17): there
    e^a / (1 + e^a) is used, accurate to a few ulps.
    """
    if isinstance(a, (float, int)):
        if a >= 0:
            return 1.0 / (1.0 + math.exp(-a))
        e = math.exp(a)
        return e / (1.0 + e)
    out = np.asarray(np.tanh(0.5 * a))   # (tanh is fast in numpy; exp on every entry is not)
    out *= 0.5
    out += 0.5
    low = a < -4.0
    if low.any():
        e = np.exp(a[low])
        out[low] = e / (1.0 + e)
    return out


def relu(a):
    """max(a, 0)."""
    if isinstance(a, np.ndarray):
        return np.maximum(a, 0)
    return a if a > 0 else 0.0


def dot(*inputs):
    """w_1 x_1 + ... + w_n x_n, from the inputs w_1 .. w_n, x_1 .. x_n."""
    n = len(inputs) // 2
    return sum(map(operator.mul, inputs[:n], inputs[n:]))


exp = elementwise(math.exp, np.exp)
log = elementwise(math.log, np.log)
sqrt = elementwise(math.sqrt, np.sqrt)
tanh = elementwise(math.tanh, np.tanh)
sin = elementwise(math.sin, np.sin)
cos = elementwise(math.cos, np.cos)
