"""Graph walking shared by `Value`, `Tensor` and the drawings.

A node keeps its inputs in `_prev`, a tuple in the op's argument order, so
`a + a` has two edges. An input is either a node or a plain constant (a
number or an array), which takes part in the forward pass but gets no
gradient.
"""

from .ops import Operators

__all__ = ['Node', 'topo_sort']


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
