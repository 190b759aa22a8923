"""The primitive table: the only place in autodiff_lite where calculus lives.

Each row gives an op's forward function and one local partial per input. A
partial is a plain function of the inputs and the output, so the same row
serves every engine:

* `Value` (reverse mode) uses it backwards: ``parent.grad += partial * grad_out``
* `Dual` (forward mode) uses it forwards: ``tangent = sum(partial * input tangent)``
* `Tensor` uses it elementwise on numpy arrays (then `unbroadcast`)

Adding an op is one call, here or in a notebook cell:

    softplus = define_op('softplus', lambda a: np.logaddexp(0.0, a), lambda a, out: sigmoid(a))
    softplus(Value(1.0))            # works at once for Value, Dual, Tensor, grad, hessian ...

**The rule that makes higher derivatives work:** a partial uses only
operators and other rows (through their op functions: `exp`, `cos`,
`sigmoid` ...). Evaluated on `Value`s, it then builds a graph of the gradient,
which can be differentiated again. (`step` and `sign` are the exceptions that
prove it: their own derivative is 0, so a plain number is the right answer.)
"""
import numpy as np

from . import errors, numerics

__all__ = ['Op', 'OPS', 'define_op', 'apply', 'plain', 'Operators',
           'add', 'sub', 'mul', 'div', 'power', 'neg', 'exp', 'log', 'sqrt', 'tanh',
           'sigmoid', 'relu', 'sin', 'cos', 'absolute', 'sum_of', 'dot', 'step', 'sign']


class Op:
    """One row: forward `f(*inputs)` and `partials[i](*inputs, out)` = d out / d input i.

    A variadic row (`sum`, `dot`) takes any number of inputs; its one partials
    function `partials[0](inputs, out)` returns the partial for every input.
    """
    __slots__ = ('name', 'f', 'partials', 'symbol', 'domain', 'variadic', 'surrogate')

    def __init__(self, name, f, partials, symbol, domain='', variadic=False, surrogate=False):
        self.name, self.f, self.partials = name, f, partials
        self.symbol = symbol          # how a graph drawing labels the op node
        self.domain = domain          # what the inputs must satisfy, for error messages
        self.variadic = variadic
        self.surrogate = surrogate    # the "partial" is deliberately not the derivative

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


def define_op(name, forward, *partials, symbol=None, domain='', variadic=False, surrogate=False):
    """Add row `name` to `OPS` and return the op, a function of numbers, arrays and nodes alike.

    forward(*inputs) computes the output from plain numbers (and, elementwise,
    from numpy arrays); partials[i](*inputs, out) is d out / d inputs[i]. A
    variadic row gives one function, partials[0](inputs, out) -> every input's
    partial. A partial may use only operators and other rows, so it can be
    differentiated again. surrogate=True marks a "partial" that is deliberately
    not the derivative (a straight-through estimator): derivative tests skip it.
    """
    errors.check_row(name, forward, partials, variadic)
    OPS[name] = Op(name, forward, partials, symbol or name, domain, variadic, surrogate)

    def op(*inputs):
        return apply(name, *inputs)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f'The {name!r} row of OPS on numbers, numpy arrays, Values, Duals or Tensors.'
    return op


def apply(name, *inputs):
    """Row `name` on inputs of any kind: plain numbers and arrays through its forward, nodes
    through their engine (of mixed nodes, the highest `_rank` wins: a Dual over Values)."""
    engine = None                         # (a loop, not max(key=...): partials call this per node)
    for x in inputs:
        if isinstance(x, Operators) and (engine is None or x._rank > engine._rank):
            engine = x
    return OPS[name].f(*inputs) if engine is None else engine._apply(name, *inputs)

def plain(x):
    """The plain number or array inside a node (through nested nodes), or x itself."""
    while isinstance(x, Operators):
        x = x.primal if hasattr(type(x), 'primal') else x.data
    return x


# --- partials that need more than one line (forwards that take floating-point care are in numerics.py)
def step(x):
    """Heaviside step: 1 where x > 0, else 0. Its own derivative is 0 (a constant).

    On arrays it is the boolean mask itself: grad_out * mask is then one pass
    over the data with grad_out's dtype, with no float copy of the mask first.
    """
    x = x if x.__class__ is np.ndarray else plain(x)   # (arrays first: the Tensor ReLU's hot path)
    return x > 0 if isinstance(x, np.ndarray) else (1.0 if x > 0 else 0.0)


def sign(x):
    """-1, 0 or 1: the derivative of |x| (taken as 0 at 0). A constant."""
    x = plain(x)
    if isinstance(x, np.ndarray):         # (a float array's sign as it is: no second pass)
        return np.sign(x) if x.dtype.kind == 'f' else np.sign(x).astype(float)
    return float((x > 0) - (x < 0))


def _dpow_base(a, b, out):
    # d(a^b)/da = b a^(b-1). For b = 0, a^0 = 1 is a constant: 0, even at a = 0 (where
    # a^(b-1) does not exist); a node b = 0 (a gradient of a gradient) only at a = 0, since
    # b a^(b-1) still has a derivative in b there.
    if isinstance(b, np.ndarray):         # where b = 0, take a = 1: b a^(b-1) = 0 there
        return b * np.where(b == 0, 1.0, a) ** (b - 1.0)
    if isinstance(b, (float, int)):       # a constant exponent: the usual x ** 2 (first, it is hot)
        return 0.0 if b == 0 else b * numerics.power(a, b - 1.0)
    if plain(b) == 0 and plain(a) == 0:   # nodes (gradients of gradients) at that same point
        return 0.0
    return b * numerics.power(a, b - 1.0)


def _dpow_exponent(a, b, out):
    # d(a^b)/db = a^b ln a. At a = 0 the limit is 0 (0^b = 0 for every b > 0), though
    # ln 0 does not exist; a negative base has no such derivative at all (on arrays:
    # nan there, as PyTorch gives).
    if isinstance(a, np.ndarray) or isinstance(out, np.ndarray):
        with np.errstate(invalid='ignore'):   # where a = 0, take ln 1 = 0 instead of ln 0
            return out * np.log(np.where(a == 0, 1.0, a))
    return 0.0 if plain(a) == 0 else out * log(a)


# --- the table ------------------------------------------------------------------------
#        name                   forward                       partial per input (inputs..., out)
add = define_op('add',          lambda a, b: a + b,           lambda a, b, out: 1.0,
                                                              lambda a, b, out: 1.0, symbol='+')
sub = define_op('sub',          lambda a, b: a - b,           lambda a, b, out: 1.0,
                                                              lambda a, b, out: -1.0, symbol='-')
mul = define_op('mul',          lambda a, b: a * b,           lambda a, b, out: b,
                                                              lambda a, b, out: a, symbol='*')
div = define_op('div',          lambda a, b: a / b,           lambda a, b, out: 1.0 / b,
                                                              lambda a, b, out: -out / b, symbol='/',
                domain='the divisor must not be 0')
power = define_op('pow',        numerics.power,               _dpow_base,       # b a^(b-1)
                                                              _dpow_exponent,   # a^b ln a
                  symbol='**',
                  domain='a negative base needs an integer exponent, and 0 needs a positive one '
                         '(a^b at a = 0 has no derivative in a for 0 < b < 1, nor in b for a < 0)')
neg = define_op('neg',          lambda a: -a,                 lambda a, out: -1.0)
exp = define_op('exp',          numerics.exp,                 lambda a, out: out)
log = define_op('log',          numerics.log,                 lambda a, out: 1.0 / a,
                domain='log needs a positive input')
sqrt = define_op('sqrt',        numerics.sqrt,                lambda a, out: 0.5 / out,
                 domain='sqrt needs a non-negative input (and a positive one for its gradient)')
tanh = define_op('tanh',        numerics.tanh,                lambda a, out: 1.0 - out * out)
sigmoid = define_op('sigmoid',  numerics.sigmoid,             lambda a, out: out * (1.0 - out),
                    symbol='σ')
relu = define_op('relu',        numerics.relu,                lambda a, out: step(a), symbol='ReLU')
sin = define_op('sin',          numerics.sin,                 lambda a, out: cos(a))
cos = define_op('cos',          numerics.cos,                 lambda a, out: -sin(a))
absolute = define_op('abs',     abs,                          lambda a, out: sign(a))

# Variadic rows: one node for a whole sum, or a whole w . x, instead of a chain
# of binary nodes. Inputs of `dot` are w_1..w_n, x_1..x_n;
# d(w . x)/d w_i = x_i and d(w . x)/d x_i = w_i: each input's partial is its partner.
sum_of = define_op('sum',       lambda *xs: sum(xs),          lambda xs, out: [1.0] * len(xs),
                   symbol='Σ', variadic=True)
dot = define_op('dot',          numerics.dot,                   lambda xs, out: xs[len(xs) // 2:] + xs[:len(xs) // 2],
                symbol='·', variadic=True)


# --- the operator methods, written once for every engine --------------------------------
class Operators:
    """`+ - * / ** -x abs(x)` and `x.exp()`, `x.tanh()` ...: each looks up its row of OPS.

    `Value`, `Dual` and `Tensor` inherit these methods; each engine supplies
    `_apply(name, *inputs)`, which runs a row on its own kind of node. A row
    added at run time needs no method: call its op function, `softplus(x)`.
    """
    __slots__ = ()
    _rank = 0             # mixed nodes in one op go to the higher rank (see `apply`)

    def __add__(self, other): return self._apply('add', self, other)
    def __radd__(self, other): return self._apply('add', other, self)
    def __sub__(self, other): return self._apply('sub', self, other)
    def __rsub__(self, other): return self._apply('sub', other, self)
    def __mul__(self, other): return self._apply('mul', self, other)
    def __rmul__(self, other): return self._apply('mul', other, self)
    def __truediv__(self, other): return self._apply('div', self, other)
    def __rtruediv__(self, other): return self._apply('div', other, self)
    def __pow__(self, other): return self._apply('pow', self, other)
    def __rpow__(self, other): return self._apply('pow', other, self)
    def __neg__(self): return self._apply('neg', self)
    def __abs__(self): return self._apply('abs', self)

    def exp(self): return self._apply('exp', self)
    def log(self): return self._apply('log', self)
    def sqrt(self): return self._apply('sqrt', self)
    def tanh(self): return self._apply('tanh', self)
    def sigmoid(self): return self._apply('sigmoid', self)
    def relu(self): return self._apply('relu', self)
    def sin(self): return self._apply('sin', self)
    def cos(self): return self._apply('cos', self)
    def abs(self): return self._apply('abs', self)

    # comparisons and truth look at the numbers, so `if x > 0:`, `if x == 1.0:` and `if x:`
    # in traced code mean what they say (bool as PyTorch's for a one-element tensor). Nodes
    # stay usable in sets and dicts by identity: the engine's bookkeeping relies on that.
    __hash__ = object.__hash__
    def __eq__(self, other): return plain(self) == plain(other)
    def __ne__(self, other): return plain(self) != plain(other)
    def __bool__(self): return bool(plain(self))
    def __lt__(self, other): return plain(self) < plain(other)
    def __le__(self, other): return plain(self) <= plain(other)
    def __gt__(self, other): return plain(self) > plain(other)
    def __ge__(self, other): return plain(self) >= plain(other)
