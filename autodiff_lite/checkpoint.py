"""`checkpoint(f, *inputs)`: keep less of the graph, compute part of it twice.

    y = checkpoint(block, x)      # as y = block(x), but block's inside is not kept

During the forward pass only f's inputs and its output stay in the graph: one
node stands for the whole of f. During backward that node runs f again from
the saved inputs and takes the gradients with `gradients` (of the inputs, and
of the parameters f closes over), so the result equals the plain one. With a
chain of n ops cut into k = √n checkpointed segments, at most about 2√n nodes
are alive at once instead of n, for about one more forward pass of time.

It works for `Value` and `Tensor`, nests, does nothing special under
`no_grad()`, and differentiates twice (`hessian` of a checkpointed function:
the recomputation then builds the gradient's graph).

To measure memory from outside the hot path: `live_nodes(root)` counts the
nodes a graph keeps, `saved_bytes(root)` the bytes of the arrays a tensor graph
keeps for backward, `peak_bytes(fn)` the peak memory of a call (tracemalloc).
"""
import tracemalloc

import numpy as np

from .functional import gradients
from .graph import topo_sort
from .modes import GradMode, enable_grad
from .ops import define_op, plain
from .tensor import Tensor, make_node
from .tensor_rules import define_rule
from .value import Value

__all__ = ['checkpoint', 'live_nodes', 'saved_bytes', 'peak_bytes']


class Recipe:
    """How a checkpoint node recomputes its f: f, which inputs were nodes, the parameters
    it closes over. It sits in the node's `_prev` (a Value) or `_ctx` (a Tensor) as a
    constant: the walks pass it to the checkpoint row, whose partials run f again."""
    __slots__ = ('f', 'nodes', 'params')

    def __init__(self, f, nodes, params):
        self.f, self.nodes, self.params = f, nodes, params

    @property
    def n_inputs(self):
        return len(self.nodes)

    def __repr__(self):
        return f"checkpoint({getattr(self.f, '__name__', 'f')})"


def checkpoint(f, *inputs):
    """f(*inputs), keeping only the inputs and the output in the graph; backward recomputes f."""
    if not callable(f):
        raise TypeError(f'checkpoint(f, *inputs) takes the function first, got {type(f).__name__}')
    if not inputs:
        raise ValueError('checkpoint(f, *inputs) needs the inputs f is called with, e.g. '
                         'checkpoint(block, x)')
    if not GradMode.enabled:                  # no graph is built anyway
        return f(*inputs)
    if any(isinstance(x, Tensor) for x in inputs):
        return _tensor_checkpoint(f, inputs)
    return _value_checkpoint(f, inputs)


def _closed_over(out, copies):
    """The leaves f used that are not its inputs: the parameters it closes over."""
    mine = set(copies)
    return [n for n in topo_sort(out) if not n._prev and n.requires_grad and n not in mine]


# --- Value ---------------------------------------------------------------------------
def _value_checkpoint(f, inputs):
    copies = [Value(x.data) if isinstance(x, Value) else x for x in inputs]
    out = f(*copies)                          # once with a graph, to find the parameters
    if not isinstance(out, Value):
        if isinstance(out, (list, tuple, Tensor)):
            raise TypeError(f'checkpoint needs f to return one Value, got {type(out).__name__}: '
                            'checkpoint each output separately, or sum them first')
        return out                            # a constant: nothing to differentiate
    params = _closed_over(out, copies)
    node = Value(out.data)                    # f's graph (out's) is dropped here
    if not (params or any(isinstance(x, Value) and x.requires_grad for x in inputs)):
        node.requires_grad = False
        return node
    node._op = 'checkpoint'
    node._prev = (Recipe(f, [isinstance(x, Value) for x in inputs], params), *inputs, *params)
    return node


def _recompute_partials(prev, out):
    """The checkpoint row's partials: run f again and take its gradients.

    prev holds the recipe, then the inputs, then the parameters: numbers (the
    plain backward) or the nodes themselves (create_graph: the partials are then
    Values joined to the inputs, to differentiate again)."""
    recipe, xs = prev[0], prev[1:1 + prev[0].n_inputs]
    graph = any(isinstance(x, Value) for x in prev[1:])
    # fresh nodes to differentiate at (joined to the inputs when the gradient needs a graph);
    # an input that was a plain number stays one
    starts = [(x + 0.0 if graph and isinstance(x, Value) and x.requires_grad else Value(plain(x)))
              if node else x for x, node in zip(xs, recipe.nodes)]
    with enable_grad():
        result = recipe.f(*starts)
        if not isinstance(result, Value) or not result.requires_grad:
            return [0.0] * len(prev)
        wrt = [s for s in starts if isinstance(s, Value)] + list(recipe.params)
        found = iter(gradients(result, wrt, create_graph=graph))
    return [0.0] + [next(found) if isinstance(s, Value) else 0.0 for s in starts] + list(found)


define_op('checkpoint', lambda recipe, *xs: plain(recipe.f(*xs)), _recompute_partials,
          symbol='checkpoint', variadic=True)


# --- Tensor --------------------------------------------------------------------------
def _tensor_checkpoint(f, inputs):
    copies = [Tensor(x.data, requires_grad=x.requires_grad) if isinstance(x, Tensor) else x
              for x in inputs]
    out = f(*copies)                          # once with a graph, to find the parameters
    if not isinstance(out, Tensor):
        raise TypeError(f'checkpoint needs f to return one Tensor, got {type(out).__name__}')
    params = _closed_over(out, copies)
    prev = (*inputs, *params)
    saved = [x.data if isinstance(x, Tensor) else x for x in prev]
    recipe = Recipe(f, [isinstance(x, Tensor) and x.requires_grad for x in inputs], params)
    return make_node(out.data, 'checkpoint', prev, saved, {'recipe': recipe})


def _tensor_recompute(g, out, *datas, recipe=None):
    """The checkpoint rule's VJP: run f again from the saved inputs, then `gradients`."""
    starts = [Tensor(d, requires_grad=True) if node else d for d, node in zip(datas, recipe.nodes)]
    with enable_grad():
        result = recipe.f(*starts)
    wrt = [s for s in starts if isinstance(s, Tensor) and s.requires_grad] + list(recipe.params)
    if not result.requires_grad:
        return [np.zeros_like(np.asarray(d, dtype=float)) for d in datas]
    found = iter(gradients(result, wrt, grad_out=g))
    return [next(found) if isinstance(s, Tensor) and s.requires_grad else np.zeros(np.shape(s))
            for s in starts] + list(found)


define_rule('checkpoint', lambda *xs, recipe=None: recipe.f(*xs[:recipe.n_inputs]).data,
            _tensor_recompute, variadic=True)


# --- measuring memory from outside the hot path --------------------------------------------
def live_nodes(root):
    """How many nodes the graph of `root` keeps alive (a checkpoint node counts as one)."""
    return len(topo_sort(root))


def saved_bytes(root):
    """Bytes of the arrays a tensor graph keeps for its backward pass, each array once;
    the data of leaves (inputs, parameters) is not counted: it exists anyway."""
    order = topo_sort(root)
    leaves = {id(n.data) for n in order if not n._prev}
    seen, total = set(), 0
    for node in order:
        for a in node._saved:
            if isinstance(a, np.ndarray) and id(a) not in leaves and id(a) not in seen:
                seen.add(id(a))
                total += a.nbytes
    return total


def peak_bytes(fn):
    """(fn(), the peak bytes Python allocated while it ran), by tracemalloc."""
    was = tracemalloc.is_tracing()
    if not was:
        tracemalloc.start()
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1] - start
    finally:
        if not was:
            tracemalloc.stop()



# `autodiff_lite.checkpoint` is the function (as torch.utils.checkpoint.checkpoint is used);
# its helpers ride along so that autodiff_lite.checkpoint.live_nodes(root) works as well
checkpoint.live_nodes, checkpoint.saved_bytes, checkpoint.peak_bytes = live_nodes, saved_bytes, peak_bytes
