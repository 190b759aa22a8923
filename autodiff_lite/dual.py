"""`Dual`: forward-mode autodiff with dual numbers, a + b·ε where ε² = 0.

    x = Dual(3.0, 1.0)      # seed: dx/dx = 1
    y = x * x + x.sin()
    y.primal, y.tangent     # f(3), f'(3)

The operators come from `ops.Operators`, as for `Value`; `Dual._apply` pushes
the tangent forward with the same partials `Value` uses backwards:
tangent_out = Σ_i partial_i · tangent_i. Duals nest (a Dual whose primal is a
Dual) for higher derivatives.
"""
import itertools

from . import errors
from .modes import Tracing
from .ops import OPS, Operators, apply

__all__ = ['Dual']


def _is_zero(t):
    """A tangent that is exactly the float 0: a constant, whose partial is not needed (sqrt'(0))."""
    return t.__class__ is float and t == 0.0


_tags = itertools.count(1)


class Dual(Operators):
    """A number with a tangent riding along: `primal` = f(x), `tangent` = f'(x)·ẋ.

    `tag` keeps nested forward passes apart (perturbation confusion): in an op,
    only the inputs with the highest tag carry a tangent; a Dual with a lower
    tag is a constant at this level (it is the primal of the result, nested).
    Duals built by hand share tag 0 and nest by their structure.
    """
    __slots__ = ('primal', 'tangent', 'tag')
    _rank = 2             # a Dual over Values (reverse over forward) runs here

    def __init__(self, primal, tangent=0.0, tag=0):
        self.primal = primal if isinstance(primal, Operators) else errors.as_real(primal, 'Dual() primal')
        self.tangent = tangent if isinstance(tangent, Operators) else errors.as_real(tangent, 'Dual() tangent')
        self.tag = tag

    def __repr__(self):
        tag = f', tag={self.tag}' if self.tag else ''
        return f'Dual(primal={self.primal!r}, tangent={self.tangent!r}{tag})'

    @staticmethod
    def new_tag():
        """A tag no Dual has yet: one per jvp call."""
        return next(_tags)

    @staticmethod
    def _apply(name, *inputs):
        """Row `name` on the primals (which may be nodes themselves), and
        tangent_out = Σ_i partial_i · tangent_i over the inputs that carry a tangent."""
        row = OPS[name]
        tag = max(x.tag if x.__class__ is Dual else 0 for x in inputs)
        primals, tangents = [], []
        for x in inputs:
            if x.__class__ is Dual and x.tag == tag:
                primals.append(x.primal)
                tangents.append(x.tangent)
            else:                             # a constant at this level (a number, a Value, an outer Dual)
                primals.append(x if isinstance(x, Operators) else errors.as_real(x, f"'{name}' with a Dual"))
                tangents.append(0.0)
        try:
            out = apply(name, *primals)
        except (ArithmeticError, ValueError) as err:
            raise errors.forward_error(row, primals, err) from None
        if isinstance(out, complex):
            raise errors.forward_error(row, primals, ValueError('complex result'))
        tangent = None                        # (not 0.0: 0.0 + a Value would be one more node)
        try:
            every = row.partials[0](primals, out) if row.variadic else None
            for i, t in enumerate(tangents):
                if not _is_zero(t):           # (a constant's partial may not even exist: log of a < 0)
                    partial = every[i] if row.variadic else row.partials[i](*primals, out)
                    term = t if (partial.__class__ is float and partial == 1.0) else partial * t
                    tangent = term if tangent is None else tangent + term
        except (ArithmeticError, ValueError) as err:
            raise errors.derivative_error(row, primals, err) from None
        if tangent is None:
            tangent = 0.0
        result = Dual.__new__(Dual)
        result.primal, result.tangent, result.tag = out, tangent, tag
        return result

    @staticmethod
    def sum(values):
        """x_1 + ... + x_n in one step (forward mode has no graph to keep small, but the same API)."""
        values = list(values)
        return Dual._apply('sum', *values) if values else Dual(0.0)

    @staticmethod
    def dot(w, x):
        """w_1 x_1 + ... + w_n x_n."""
        w, x = list(w), list(x)
        if len(w) != len(x):
            raise ValueError(f'dot needs two sequences of the same length, got {len(w)} and {len(x)}')
        return Dual._apply('dot', *w, *x) if w else Dual(0.0)

    def detach(self):
        """The same primal with tangent 0: derivatives stop here (as Value.detach)."""
        return Dual(self.primal, 0.0, self.tag)

    def __float__(self):
        if Tracing.inputs and not _is_zero(self.tangent):
            raise errors.traced_float_error(self)       # (a Dual with tangent 0 is a constant: nothing lost)
        return float(self.primal)
