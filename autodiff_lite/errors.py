"""Error messages of the engine, in one place, so the engine files read like an engine.

Every message names the op, the inputs (with their labels) and the fix: a bad
input gets a sentence a student can act on, never a bare `math domain error`.
"""
import numbers

import numpy as np

__all__ = ['describe', 'whole', 'check_row', 'as_real', 'mix_error', 'real_result', 'forward_error', 'derivative_error',
           'traced_float_error', 'no_graph_error', 'broadcast_error']


def describe(x):
    """How a message shows an input: `x = 2` for a labelled Value, repr otherwise."""
    data = getattr(x, 'data', None)
    if hasattr(x, 'label') and isinstance(data, float):
        return f"{x.label or 'a Value'} = {data:g}"
    return repr(x)


def whole(x, what):
    """x as an int if it is a whole number >= 1 (not a bool); a ValueError naming `what` otherwise."""
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < 1:
        raise ValueError(f'{what} must be a whole number >= 1, got {x!r}')
    return int(x)


def check_row(name, forward, partials, variadic):
    """The arguments of `ops.define_op`, or a TypeError saying what a row needs."""
    if not isinstance(name, str) or not name:
        raise TypeError(f'define_op needs a name (a non-empty str), got {name!r}')
    for fn, what in [(forward, 'forward'), *((p, f'partial {i}') for i, p in enumerate(partials))]:
        if not callable(fn):
            raise TypeError(f"define_op('{name}'): the {what} must be a function, got {fn!r}")
    if not partials or (variadic and len(partials) != 1):
        raise TypeError(f"define_op('{name}'): give " + (
            'one partials function for a variadic op, partials(inputs, out) -> a list'
            if variadic else 'one partial per input, each a function (*inputs, out)'))


def mix_error(what, kinds):
    """Two engines' nodes in one op (a Value and a Tensor): say which and how to convert."""
    return TypeError(f'{what}: a {kinds[0]} and a {kinds[1]} do not mix; use '
                     f'Tensor(v.data) to turn a scalar Value into a tensor')


def as_real(x, what):
    """x as a plain float if it is a real number; a TypeError naming the fix otherwise."""
    if x.__class__ is float:
        return x
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        if isinstance(x, np.ndarray) and x.size == 1 and x.dtype.kind in 'fiu':
            return float(x.reshape(()))
        fix = ('convert it first, e.g. float(s)' if isinstance(x, str)
               else 'pass an int or a float' + (' (a Tensor holds arrays)'
                                                if isinstance(x, (list, tuple, np.ndarray)) else ''))
        raise TypeError(f'{what} needs a real number, got {x!r} ({type(x).__name__}): {fix}')
    return float(x)


def real_result(row, inputs, data):
    """A forward's result that is not a float: an int becomes one; a complex number or
    anything else is an error (a Value holds one real number)."""
    if isinstance(data, complex) or not isinstance(data, (float, int)):
        raise forward_error(row, inputs, ValueError(f'{type(data).__name__} result'))
    return float(data)


def _why(row, err, overflow, otherwise):
    return overflow if isinstance(err, OverflowError) else (row.domain or otherwise)


def forward_error(row, inputs, err):
    """An op whose output is undefined (log of -1, 1/0): name the op, its inputs and the fix."""
    why = _why(row, err, 'the result is not a finite real number (too large for a float: overflow)',
               'the result is not a finite real number')
    return ValueError(f"{row.name}({', '.join(map(describe, inputs))}) is undefined: {why}. "
                      f"Check the inputs' values (labels help: Value(x, label='x')). "
                      f"[{type(err).__name__}: {err}]")


def derivative_error(row, inputs, err):
    """A partial that cannot be evaluated (sqrt'(0), pow at 0 ...): name the op, its inputs and why."""
    why = _why(row, err, 'it is too large for a float', 'the derivative is not a finite real number there')
    fix = 'Move the input away from that point'
    if row.name == 'pow' and hasattr(inputs[1], 'grad') and not isinstance(err, OverflowError):
        fix += ('; pass a fixed exponent as a plain number (x ** 2, not x ** Value(2)): '
                'then no derivative in it is needed')
    return ValueError(f"the derivative of {row.name}({', '.join(map(describe, inputs))}) is undefined "
                      f"or infinite: {why}. {fix}. [{type(err).__name__}: {err}]")


def traced_float_error(x):
    """float() of a node while a transform traces f: the derivative would be lost."""
    return TypeError(
        f'float() of {describe(x)} while grad/jvp/jacobian/hessian is tracing f: the result would be a '
        f'plain number, and its derivative would be lost without a word. math.sin(x), math.exp(x) and '
        f'float(x) all do this: use the methods x.sin(), x.exp(), x.tanh() ... (or autodiff_lite.ops.sin, '
        f'which takes numbers and nodes alike); comparisons such as x > 0 work as they are. To read '
        f'only the number (a check such as math.isfinite, a print), use x.data (a Dual: x.primal).')


def no_graph_error(kind):
    """backward() on a node that has no graph behind it."""
    if kind == 'Tensor':
        return RuntimeError('backward(): this tensor does not require grad and has no graph. '
                            'Create the inputs with requires_grad=True (and not under no_grad()).')
    return RuntimeError('backward(): this Value does not require grad and has no graph (it was '
                        'computed under no_grad(), from constants only, or made with '
                        'requires_grad=False). Compute it outside no_grad() from Values '
                        'that require grad.')


def broadcast_error(name, sa, sb):
    """Shapes that do not broadcast: name the op, both shapes, the first clashing axis and a fix."""
    clash = ''
    for k in range(1, min(len(sa), len(sb)) + 1):
        if sa[-k] != sb[-k] and 1 not in (sa[-k], sb[-k]):
            clash = f' (counting from the right, axis -{k} has sizes {sa[-k]} and {sb[-k]})'
            break
    return ValueError(
        f'{name}: shapes {sa} and {sb} do not broadcast{clash}: aligned from the right, each '
        f'pair of sizes must be equal or one of them 1. Fix: reshape one side so the axes '
        f'line up, e.g. x.reshape(-1, 1) for a column, or transpose with .T.')
