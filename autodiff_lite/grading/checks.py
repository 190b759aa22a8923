"""Checkers for exercise test cells: each failure says what was expected, what came, and why.

Every checker raises an `AssertionError` whose first line stands alone:

    <name>: expected <expected>, got <actual>. Hint: <hint>

Later lines (if any) add detail. Where the numbers can tell, the hint names the
misconception: a sign error, a forgotten upstream gradient, a gradient assigned
instead of accumulated, a missing reduction over a broadcast axis.
"""
import re

import numpy as np

from ..graph import Node as _EngineNode
from .probes import Misconception
from .wire import DualView, NodeView

__all__ = ['check_close', 'check_grads', 'check_topo_order', 'check_raises', 'check_true',
           'node_name', 'CheckFailure']
# What test cells call. node_name is a helper of the messages, not a checker.
CHECKERS = ('check_close', 'check_grads', 'check_topo_order', 'check_raises', 'check_true')
# a node of the engine, or one that came back from a probe (read-only, same names)
Node = (_EngineNode, NodeView)

_NOT_NUMBER = object()
_PRECEDENCE = {'add': 1, 'sub': 1, 'mul': 2, 'div': 2, 'pow': 3}

# Hints for misconceptions the numbers alone can reveal (see check_grads).
SIGN_HINT = Misconception('sign-flip', 'the sign is flipped: check the order in a subtraction '
                          '(d(a - b)/db = -1) or a division (d(a/b)/db = -a/b²)')
UPSTREAM_HINT = Misconception('missing-upstream', 'this is the local derivative alone: multiply it by '
                              'the upstream gradient (chain rule: grad_in = local partial × grad_out)')
ACCUMULATE_HINT = ('this is 1/{k} of the answer, as if only one of {k} equal paths counted: '
                   'a node used more than once must accumulate its gradient (+=), not assign it (=)')
DOUBLE_HINT = Misconception('double-count', 'this is twice the answer: gradients accumulated over two '
                            'backward() calls (call zero_grad() in between), or one path counted twice')
REDUCE_HINT = ('shape {actual} is the broadcast shape: the input had shape {expected}, so sum '
               'the gradient over the broadcast axes {axes} (unbroadcast)')
ZERO_HINT = Misconception('zero-grad', 'the gradient is zero: was backward() called on the output, and '
                          'does the value really depend on this input?')


# --- formatting -------------------------------------------------------------------
def _fmt(x):
    """A short one-line rendering of a number or an array."""
    if isinstance(x, (float, np.floating)):
        return f'{float(x):.10g}'
    if isinstance(x, np.ndarray):
        if x.ndim == 0:
            return _fmt(x.item())
        text = np.array2string(x, precision=6, separator=', ', threshold=12, edgeitems=3)
        return ' '.join(text.split()) + f' (shape {x.shape})'
    return repr(x)


class CheckFailure(AssertionError):
    """A failed check, its parts kept apart: the grader shows a hidden test's hint and
    misconception id without its expected value."""

    def __init__(self, message, name='', expected='', actual='', hint='', misconception=None):
        super().__init__(message)
        self.name, self.expected, self.actual = name, expected, actual
        self.hint, self.misconception = str(hint), misconception


def _fail(name, expected, actual, hint, detail=''):
    __tracebackhide__ = True      # IPython and pytest show the student's line, not ours
    hint = hint or 're-read the task and print the intermediate values of your computation'
    msg = f'{name}: expected {expected}, got {actual}. Hint: {hint}'
    raise CheckFailure(msg + (f'\n{detail}' if detail else ''), name, expected, actual, hint,
                       getattr(hint, 'id', None))


def _as_array(x):
    """x as a float ndarray (a Value or Tensor gives its data), or _NOT_NUMBER."""
    if isinstance(x, Node) and hasattr(x, 'data'):
        x = x.data
    if x is None or isinstance(x, (str, bytes, dict, set, DualView)) or hasattr(x, 'tangent'):
        # a Dual is two numbers: which one is meant must be said (.primal or .tangent)
        return _NOT_NUMBER
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        return _NOT_NUMBER
    return arr


def _close(a, b, rtol, atol):
    """Same shape and |a - b| <= atol + rtol·|b| everywhere (NaN matches NaN)."""
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def _mistake_pairs(mistakes):
    """(wrong answer as array, hint) pairs from a dict or a list of pairs."""
    if not mistakes:
        return []
    items = mistakes.items() if isinstance(mistakes, dict) else mistakes
    return [(np.asarray(value, dtype=float), hint) for value, hint in items]


def _known_mistake(actual, mistakes, rtol, atol):
    for value, hint in _mistake_pairs(mistakes):
        if _close(actual, value, rtol, atol):
            return hint
    return None


def _not_a_number(name, expected, actual, hint):
    __tracebackhide__ = True      # IPython and pytest show the student's line, not ours
    if actual is None:
        _fail(name, _fmt(expected), 'None', hint or 'did your function `return` its result?')
    fix = ('use .primal for the value or .tangent for the derivative'
           if type(actual).__name__ in ('Dual', 'DualView') else 'return a number (or an array)')
    kind = getattr(actual, 'type_name', None) or type(actual).__name__   # a student's object: its own type
    _fail(name, _fmt(expected), f'{actual!r} ({kind})', hint or fix)


# --- the checkers -------------------------------------------------------------------
def check_close(actual, expected, name='value', rtol=1e-6, atol=1e-9, hint='', mistakes=None):
    """Pass when |actual - expected| <= atol + rtol·|expected| (numbers or arrays, shapes first).

    `mistakes` maps known wrong answers to the misconception they reveal,
    e.g. `{-12.0: 'sign error in the subtraction'}` (or a list of (value, hint)
    pairs when the wrong answers are arrays).
    """
    __tracebackhide__ = True      # IPython and pytest show the student's line, not ours
    exp = _as_array(expected)
    if exp is _NOT_NUMBER:
        raise TypeError(f'check_close: expected must be a number or an array, got {expected!r}')
    act = _as_array(actual)
    if act is _NOT_NUMBER:
        _not_a_number(name, exp, actual, '')
    if act.shape != exp.shape:
        _fail(name, f'shape {exp.shape}', f'shape {act.shape}',
              hint or 'check which axes your computation keeps or sums over',
              f'expected {_fmt(exp)}\ngot      {_fmt(act)}')
    if _close(act, exp, rtol, atol):
        return
    known = _known_mistake(act, mistakes, rtol, atol)
    if known is None and np.any(np.abs(exp) > atol) and _close(act, -exp, rtol, atol):
        known = SIGN_HINT
    diff = float(np.max(np.abs(act - exp))) if act.size else 0.0
    _fail(name, _fmt(exp if exp.ndim else float(exp)), _fmt(act if act.ndim else float(act)),
          known or hint,
          f'(largest difference {diff:.3g}; allowed: {atol:g} + {rtol:g}·|expected|)')


def _unbroadcast_axes(big, small):
    """The axes a gradient of shape `big` must be summed over to get shape `small`, or None."""
    if len(big) < len(small):  # noqa
        return None
    lead = len(big) - len(small)
    axes = list(range(lead))
    for i, (b, s) in enumerate(zip(big[lead:], small)):
        if s == 1 and b != 1:
            axes.append(lead + i)
        elif s != b:
            return None
    return tuple(axes) if axes else None


def _diagnose_grad(act, exp, rtol, atol, upstream):
    """Name the misconception that turns `exp` into `act`, when the numbers tell."""
    if act.shape != exp.shape:
        axes = _unbroadcast_axes(act.shape, exp.shape)
        if axes is not None:
            reduced = act.sum(axis=axes).reshape(exp.shape)
            if _close(reduced, exp, rtol, atol):
                return Misconception('missing-unbroadcast', REDUCE_HINT.format(
                    actual=act.shape, expected=exp.shape, axes=axes))
        return None
    if not np.any(np.abs(exp) > atol):           # expected is zero: nothing to scale
        return None
    if _close(act, -exp, rtol, atol):
        return SIGN_HINT
    if upstream is not None:
        up = np.asarray(upstream, dtype=float)
        if np.all(up != 0) and not np.allclose(up, 1.0) and act.shape == np.broadcast(exp, up).shape \
                and _close(act, exp / up, rtol, atol):
            return UPSTREAM_HINT
    for k in (2, 3, 4):
        if _close(act, exp / k, rtol, atol):
            return Misconception('assign-not-accumulate', ACCUMULATE_HINT.format(k=k))
    if _close(act, 2 * exp, rtol, atol):
        return DOUBLE_HINT
    if not np.any(act):
        return ZERO_HINT
    return None


def _per_name(mistakes, names):
    """Split `mistakes` into {grad name: pairs} and pairs that apply to every name."""
    if not mistakes:
        return {}, []
    if isinstance(mistakes, dict) and any(isinstance(k, str) for k in mistakes):
        per = {k: v for k, v in mistakes.items() if isinstance(k, str)}
        unknown = set(per) - set(names)
        if unknown:
            raise TypeError(f'check_grads: mistakes names {sorted(unknown)} are not in expected '
                            f'({sorted(names)})')
        rest = [(k, v) for k, v in mistakes.items() if not isinstance(k, str)]
        return per, rest
    return {}, mistakes


def check_grads(actual, expected, rtol=1e-6, atol=1e-9, mistakes=None, upstream=None):
    """Compare gradients by name ({'w': dL/dw, ...}) and name the likely misconception.

    Automatic diagnoses: a flipped sign; the local derivative without the
    upstream gradient (when `upstream` is given); 1/k of the answer (assigned
    instead of accumulated on a node used k times); twice the answer; the
    broadcast shape where a sum over the broadcast axes was needed. `mistakes`
    adds known wrong answers: {wrong value: hint} for every name, or
    {name: {wrong value: hint}} per name (e.g. a forward-mode tangent that kept
    one input's contribution only).
    """
    __tracebackhide__ = True      # IPython and pytest show the student's line, not ours
    if not isinstance(expected, dict):
        raise TypeError('check_grads: expected must be a dict name -> gradient')
    if not isinstance(actual, dict):
        _fail('gradients', f'a dict with keys {sorted(expected)}',
              f'{actual!r} ({type(actual).__name__})',
              "return a dict name -> gradient, e.g. {'w': w.grad, 'b': b.grad}")
    per, shared = _per_name(mistakes, list(expected))
    missing = [k for k in expected if k not in actual]
    if missing:
        _fail('gradients', f'keys {list(expected)}', f'keys {list(actual)}',
              f'add the gradient for {", ".join(map(repr, missing))}')
    failures = []
    for key, exp_raw in expected.items():
        name = f'grad[{key!r}]'
        exp = _as_array(exp_raw)
        if exp is _NOT_NUMBER:
            raise TypeError(f'check_grads: expected[{key!r}] must be a number or an array')
        if isinstance(actual[key], Node):       # {'w': w} instead of {'w': w.grad}
            failures.append((name, _fmt(exp if exp.ndim else float(exp)), repr(actual[key]),
                             f"that is the node itself: its gradient is {key}.grad"))
            continue
        act = _as_array(actual[key])
        if act is _NOT_NUMBER:
            hint = ('a gradient is a number: read it from .grad after backward()'
                    if actual[key] is None else 'a gradient is a number or an array')
            failures.append((name, _fmt(exp), repr(actual[key]), hint))
            continue
        if _close(act, exp, rtol, atol):
            continue
        hint = _known_mistake(act, per.get(key), rtol, atol) \
            or _known_mistake(act, shared, rtol, atol) \
            or _diagnose_grad(act, exp, rtol, atol, upstream)
        if act.shape != exp.shape and hint is None:
            hint = f'a gradient has the shape of its input, {exp.shape}'
        failures.append((name, _fmt(exp) if exp.ndim else _fmt(float(exp)),
                         _fmt(act) if act.ndim else _fmt(float(act)), hint))
    if failures:
        first, rest = failures[0], failures[1:]
        detail = '\n'.join(f'also {n}: expected {e}, got {a}' + (f' ({h})' if h else '')
                           for n, e, a, h in rest)
        _fail(*first, detail=detail)


def node_name(node):
    """How a message names a node: its label, else a short expression of its inputs' names."""
    return _node_name(node, depth=3)


def _node_name(node, depth):
    if not isinstance(node, Node):
        return _fmt(float(node)) if isinstance(node, (int, float)) else repr(node)
    label = getattr(node, 'label', '')
    if label:
        return label
    op = getattr(node, '_op', '')
    data = getattr(node, 'data', None)
    shown = _fmt(float(data)) if isinstance(data, (int, float)) else '…'
    if not op:
        return shown                          # an unlabeled leaf: its value
    if depth == 0:
        return '…'
    from ..ops import OPS
    row = OPS.get(op)
    args = [_node_name(p, depth - 1) for p in node._prev]
    if op in _PRECEDENCE and len(args) == 2:
        # parenthesise an unlabeled infix input that binds more loosely
        mine = _PRECEDENCE[op]
        for i, p in enumerate(node._prev):
            theirs = _PRECEDENCE.get(getattr(p, '_op', ''), 9) if depth > 1 else 9
            if isinstance(p, Node) and not getattr(p, 'label', '') and (
                    theirs < mine or (theirs == mine and (i == 1) != (op == 'pow'))):
                args[i] = f'({args[i]})'
        return f'{args[0]}{row.symbol}{args[1]}'
    return f'{row.symbol if row else op}({", ".join(args)})'


def _reachable(root):
    """The nodes root depends on (root included), engine nodes and probe results alike."""
    seen, stack, out = {root}, [root], []
    while stack:
        node = stack.pop()
        out.append(node)
        for p in node._prev:
            if isinstance(p, Node) and p not in seen:
                seen.add(p)
                stack.append(p)
    return out


def check_topo_order(order, root):
    """Pass when `order` lists every node reachable from `root` once, each after its inputs.

    Any valid order is accepted (there are usually many). The message names
    the first violated edge, a missing node, a duplicate or a stranger.
    """
    __tracebackhide__ = True      # IPython and pytest show the student's line, not ours
    if not isinstance(root, Node):
        raise TypeError(f'check_topo_order: root must be a node, got {type(root).__name__}')
    try:
        order = list(order)
    except TypeError:
        _fail('topological order', 'a list of nodes', f'{order!r} ({type(order).__name__})',
              'return a list of the nodes, inputs first')
    reachable = _reachable(root)
    for i, node in enumerate(order):
        if not isinstance(node, Node):
            _fail('topological order', 'a list of nodes', f'{node!r} at position {i}',
                  'append the nodes themselves, not their .data or labels')
    where = {}
    for i, node in enumerate(order):
        if node in where:
            _fail('topological order', 'each node once', f'{node_name(node)!r} at positions '
                  f'{where[node]} and {i}', 'keep a set of visited nodes and skip a node already seen '
                  '(a node used twice, like a in a*a, is still listed once)')
        where[node] = i
    reach = set(reachable)
    strangers = [n for n in order if n not in reach]
    if strangers:
        _fail('topological order', f'only the {len(reachable)} nodes {node_name(root)!r} depends on',
              f'{node_name(strangers[0])!r}, which it does not depend on',
              'start the walk from the root and follow ._prev only')
    missing = [n for n in reachable if n not in where]
    if missing:
        _fail('topological order', f'{len(reachable)} nodes', f'{len(order)} nodes: '
              f'{node_name(missing[0])!r} is missing',
              'visit every input of every node (follow ._prev recursively, leaves included)')
    reversed_order = all(where[p] > where[n] for n in order for p in n._prev if isinstance(p, Node))
    for i, node in enumerate(order):
        for p in node._prev:
            if isinstance(p, Node) and where[p] > i:
                hint = ('your order is reversed: inputs come first, the root last '
                        '(backward() then walks it from the end)') if reversed_order else \
                    'append a node only after all of its inputs (post-order depth-first search)'
                _fail('topological order', f'{node_name(p)!r} before {node_name(node)!r} '
                      '(an input of it)', f'{node_name(p)!r} at position {where[p]} and '
                      f'{node_name(node)!r} at position {i}', hint)


def check_raises(fn, exc_type=Exception, match=None, hint=''):
    """Pass when calling fn() raises exc_type (with a message matching the regex `match`).

    A `NotImplementedError` from an unanswered exercise is let through, so the
    grader reports "not solved yet" instead of a wrong exception.
    """
    __tracebackhide__ = True      # IPython and pytest show the student's line, not ours
    name = getattr(fn, '__name__', 'the call')
    if name == '<lambda>':
        name = 'the call'
    want = getattr(exc_type, '__name__', str(exc_type))
    try:
        result = fn()
    except exc_type as err:
        if match is not None and not re.search(match, str(err)):
            _fail(f'{name}', f'{want} with a message matching {match!r}',
                  f'{type(err).__name__}: {err}', hint or 'say in the message what is wrong')
        return err
    except NotImplementedError:
        raise
    except Exception as err:
        _fail(f'{name}', want, f'{type(err).__name__}: {err}',
              hint or f'raise {want} for this input')
    _fail(f'{name}', f'{want} to be raised', f'no error (it returned {result!r})',
          hint or f'check the input and raise {want} when it is invalid')


def check_true(condition, message, misconception=None):
    """Pass when `condition` is true; otherwise fail with `message`
    ('<what>: expected ..., got .... Hint: ...'). A hidden test shows only the part after
    'Hint:' (and `misconception`, a stable id, or the hint's own id)."""
    __tracebackhide__ = True      # IPython and pytest show the student's line, not ours
    if not condition:
        hint = message.split('Hint:', 1)[1].strip() if 'Hint:' in message else ''
        raise CheckFailure(message, hint=hint, misconception=misconception or getattr(message, 'id', None))

