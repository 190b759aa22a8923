"""`Value`: a scalar that remembers how it was computed (reverse-mode autodiff).

    x = Value(2.0, label='x')
    y = (x * x + 3).tanh()
    y.backward()          # walks the graph once, in reverse topological order
    x.grad                # dy/dx

`x * y` and `x.tanh()` are written once, in `ops.Operators`; they call
`Value._apply`, which runs the op's row of `ops.OPS` forward and records the
inputs. `backward` walks `graph.topo_sort` in reverse and asks the same rows
for their partials. No derivative is written in this file.
"""
from . import errors
from .graph import Node, topo_sort
from .modes import GradMode, Tracing, enable_grad
from .ops import OPS, Operators, apply

__all__ = ['Value', 'backward', 'walk', 'contributions']


class Value(Node):
    """A scalar node: `data`, `grad`, `label`; `_op` and `_prev` record how it was made."""
    __slots__ = ('data', 'grad', 'label', 'requires_grad', '_op', '_prev')
    _rank = 1             # a Dual over Values outranks them (ops.apply)

    def __init__(self, data, label='', requires_grad=True):
        self.data = errors.as_real(data, 'Value()')
        self.grad = 0.0
        self.label = label
        self.requires_grad = bool(requires_grad)
        self._op = ''
        self._prev = ()

    def __repr__(self):
        name = f', label={self.label!r}' if self.label else ''
        g = self.grad.data if isinstance(self.grad, Value) else self.grad   # (a Value after create_graph)
        return f'Value(data={self.data:.6g}, grad={g:.6g}{name})'

    @staticmethod
    def _apply(name, *inputs):
        """The node for row `name` of OPS: data = the row's forward on the inputs' numbers,
        `_prev` = the inputs (a plain number stays in `_prev` as a constant)."""
        datas, needs = [], False
        for x in inputs:
            if x.__class__ is Value:
                datas.append(x.data)
                if x.requires_grad:
                    needs = True
            elif x.__class__ is float:
                datas.append(x)
            else:                              # an int, a Dual or a Tensor, or something wrong
                return _apply_other(name, inputs)
        row = OPS[name]
        try:
            data = row.f(*datas)
        except (ArithmeticError, ValueError) as err:
            raise errors.forward_error(row, inputs, err) from None
        if data.__class__ is not float:       # (an int, or something no Value can hold)
            data = errors.real_result(row, inputs, data)
        out = Value.__new__(Value)            # (Value(data) would check data again)
        out.data = data
        out.grad = 0.0
        out.label = ''
        out._op = name
        if needs and GradMode.enabled:
            out._prev = inputs
            out.requires_grad = True
        else:                                 # under no_grad, or only constants in: no graph
            out._prev = ()
            out.requires_grad = False
        return out

    @staticmethod
    def sum(values):
        """x_1 + ... + x_n as one node (Python's sum() makes a chain of n - 1 nodes)."""
        values = list(values)
        return Value._apply('sum', *values) if values else Value(0.0, requires_grad=False)

    @staticmethod
    def dot(w, x):
        """w_1 x_1 + ... + w_n x_n as one node (a neuron's weighted sum)."""
        w, x = list(w), list(x)
        if len(w) != len(x):
            raise ValueError(f'dot needs two sequences of the same length, got {len(w)} and {len(x)}')
        return Value._apply('dot', *w, *x) if w else Value(0.0, requires_grad=False)

    def detach(self):
        """A new leaf with the same data and no history (gradients stop here)."""
        return Value(self.data, label=self.label, requires_grad=False)

    def __float__(self):
        if Tracing.inputs and self.requires_grad:  # (a constant, or a Value f does not trace, loses nothing)
            graph = topo_sort(self)
            if any(not traced.isdisjoint(graph) for traced in Tracing.inputs):
                raise errors.traced_float_error(self)
        return float(self.data)

    def item(self):
        return self.data

    def zero_grad(self):
        self.grad = 0.0

    def is_leaf(self):
        return not self._prev

    # --- reverse mode -----------------------------------------------------------------
    def backward(self, grad=1.0, create_graph=False):
        """Fill `.grad` of every node this one depends on, d self / d node.

        Leaves accumulate across calls (`+=`, as in PyTorch: call `zero_grad()`
        between steps); interior nodes are reset first, so a second call never
        reuses a stale interior gradient. `create_graph=True` makes each
        gradient a `Value` with its own graph, for gradients of gradients.
        """
        if not self.requires_grad:
            raise errors.no_graph_error('Value')
        backward([self], [grad], create_graph=create_graph)


def backward(roots, seeds, create_graph=False):
    """Reverse mode from several roots at once, each seeded with its gradient d L / d root."""
    for root in roots:
        if not isinstance(root, Value):
            raise TypeError(f'backward() needs Value roots, got {type(root).__name__}')
    seeds = [s if (create_graph and isinstance(s, Value)) else errors.as_real(s, 'backward(grad=...)')
             for s in seeds]
    order = topo_sort(roots)
    for node in order:                        # no stale interior gradients
        if node._prev:
            node.grad = 0.0
        if create_graph and not isinstance(node.grad, Value):
            node.grad = Value(node.grad, requires_grad=False)
    for root, seed in zip(roots, seeds):
        root.grad = root.grad + seed
    if create_graph:
        with enable_grad():                   # the gradient's graph is wanted, whatever the mode
            walk(order, create_graph=True)
    else:
        walk_numbers(order)


def walk(order, create_graph=False):
    """The chain rule, once per edge: nodes in reverse topological order (each after every
    node that uses it, so its grad is complete), each adding partial * grad to its inputs."""
    for node in reversed(order):
        if node._prev:                        # (a leaf has nothing to pass on)
            for p, amount in contributions(node, node.grad, create_graph):
                p.grad = p.grad + amount


def contributions(node, grad_out, create_graph=False):
    """What `node` passes back to each input that takes a gradient: (input, partial * grad_out).

    With create_graph the partials are evaluated on the nodes themselves, so every
    gradient is a Value with a graph of its own, to be differentiated again.
    """
    row = OPS[node._op]
    inputs = node._prev if create_graph else [x.data if isinstance(x, Value) else x for x in node._prev]
    out = node if create_graph else node.data
    every = row.partials[0](inputs, out) if row.variadic else None
    result = []
    for i, p in enumerate(node._prev):
        if isinstance(p, Value) and p.requires_grad:    # (a constant's partial may not exist)
            try:
                partial = every[i] if row.variadic else row.partials[i](*inputs, out)
            except (ArithmeticError, ValueError) as err:
                raise errors.derivative_error(row, node._prev, err) from None
            # (times 1.0 is skipped: with create_graph it would be one more node)
            result.append((p, grad_out if partial.__class__ is float and partial == 1.0 else partial * grad_out))
    return result


def walk_numbers(order):
    """`walk` on plain floats, its optimised twin: the same sums, with the inputs unpacked
    by arity and the names local (about twice as fast; a training step spends its time here)."""
    V = Value
    try:
        for node in reversed(order):
            prev, g = node._prev, node.grad
            if not prev:                      # a leaf has nothing to pass on
                continue
            row = OPS[node._op]
            if row.variadic:                  # sum, dot: one call gives every partial
                datas = [p.data if p.__class__ is V else p for p in prev]
                for p, d in zip(prev, row.partials[0](datas, node.data)):
                    if p.__class__ is V and p.requires_grad:
                        p.grad += d * g
            elif len(prev) == 2:
                a, b = prev
                ad = a.data if a.__class__ is V else a
                bd = b.data if b.__class__ is V else b
                if a.__class__ is V and a.requires_grad:
                    a.grad += row.partials[0](ad, bd, node.data) * g
                if b.__class__ is V and b.requires_grad:
                    b.grad += row.partials[1](ad, bd, node.data) * g
            elif len(prev) == 1:
                prev[0].grad += row.partials[0](prev[0].data, node.data) * g
            else:                             # three or more inputs: one partial at a time
                datas = [p.data if p.__class__ is V else p for p in prev]
                for i, p in enumerate(prev):
                    if p.__class__ is V and p.requires_grad:
                        p.grad += row.partials[i](*datas, node.data) * g
    except (ArithmeticError, ValueError) as err:     # sqrt'(0), (-2)**y in y ...: say where
        raise errors.derivative_error(OPS[node._op], node._prev, err) from None


def _apply_other(name, inputs):
    """`Value._apply` off the hot path: a Dual or Tensor among the inputs takes the op to its
    engine; ints become floats, anything else gets an error naming the fix."""
    if any(isinstance(x, Operators) and x._rank > Value._rank for x in inputs):
        return apply(name, *inputs)
    return Value._apply(name, *(x if x.__class__ is Value else errors.as_real(x, f"'{name}' with a Value")
                                for x in inputs))
