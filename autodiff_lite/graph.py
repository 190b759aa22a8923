"""Graph walking shared by `Value`, `Tensor` and the drawings.

A node keeps its inputs in `_prev`, a tuple in the op's argument order, so
`a + a` has two edges. An input is either a node or a plain constant (a
number or an array), which takes part in the forward pass but gets no
gradient.
"""

from .ops import Operators

__all__ = ['Node', 'topo_sort', 'no_grad', 'enable_grad', 'is_grad_enabled', 'GradMode', 'Tracing']


class Node(Operators):
    """Base of every graph node type (`Value`, `Tensor`); lets the walkers tell nodes from constants."""
    __slots__ = ()


def topo_sort(roots):
    """Every node reachable from `roots`, each after all of its inputs.

    Iterative depth-first search, so a chain of a million ops is no problem
    (a recursive version hits Python's recursion limit near 1000 levels).
    """
    if isinstance(roots, Node):
        roots = (roots,)
    order, seen, placed = [], set(), set()
    stack = list(roots)
    while stack:
        node = stack[-1]
        if node in seen:                   # second time on top: its inputs are placed
            stack.pop()
            if node not in placed:
                placed.add(node)
                order.append(node)
            continue
        seen.add(node)
        for p in node._prev:
            if isinstance(p, Node) and p not in seen:
                stack.append(p)
    return order


# --- gradient mode, shared by Value and Tensor ----------------------------------
class GradMode:
    """Whether ops record a graph right now (`no_grad()` turns it off)."""
    enabled = True


class Tracing:
    """The grad / jvp / vjp / jacobian / hessian calls running f right now: one set
    per call of the Values it traces (empty for jvp, whose Duals carry tangents).
    While one runs, float() of a node that carries a derivative (a Value that
    depends on a traced input, a Dual with a tangent) raises: math.sin(x) would
    turn x into a plain number and lose the derivative without a word."""
    inputs = []


def is_grad_enabled():
    return GradMode.enabled


class no_grad:
    """Context manager (or decorator, `@no_grad()` or `@no_grad`): ops inside build no
    graph, as in PyTorch."""
    _mode = False

    def __new__(cls, fn=None):
        if fn is None:
            return super().__new__(cls)
        if not callable(fn):
            raise TypeError(f'{cls.__name__}() takes no arguments, or a function when used '
                            f'as a bare decorator; got {type(fn).__name__}')
        return cls()(fn)                  # `@no_grad` without parentheses: the wrapped function

    def __enter__(self):
        self._prev_mode = GradMode.enabled
        GradMode.enabled = self._mode
        return self

    def __exit__(self, *exc):
        GradMode.enabled = self._prev_mode
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class enable_grad(no_grad):
    """Turn graph building back on inside a `no_grad` block."""
    _mode = True
