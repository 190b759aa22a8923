"""Gradient checking: compare autodiff with central differences.

    f'(x) ≈ (f(x + h) - f(x - h)) / 2h      error O(h²) from truncation, O(ε/h) from round-off

`gradcheck` checks a whole function; `check_local_gradients` checks every op
node of a graph separately and names the one whose local derivative is wrong.
"""
import math
import numbers

from .graph import Node, topo_sort
from .modes import enable_grad
from .ops import OPS, plain
from .value import Value

__all__ = ['central_difference', 'numerical_grad', 'gradcheck', 'GradcheckReport', 'check_op',
           'check_local_gradients', 'LocalCheck']


def central_difference(f, xs, i, h=1e-6):
    """(f(x + h e_i) - f(x - h e_i)) / 2h: the slope of f in its input i at xs, error O(h²).

    The one central difference of the package: gradcheck, the per-node check,
    the finite-difference widget and the tests all use it.
    """
    up, down = list(xs), list(xs)
    up[i] += h
    down[i] -= h
    return (f(*up) - f(*down)) / (2 * h)


def numerical_grad(f, *inputs, h=1e-6):
    """Central-difference estimate of df/d inputs[i] for each i (f takes and returns floats)."""
    xs = [float(x) for x in inputs]
    as_float = lambda *v: float(f(*v))          # noqa: E731
    return [central_difference(as_float, xs, i, h) for i in range(len(xs))]


class GradcheckReport:
    """Per-input absolute and relative errors between autodiff and central differences."""

    def __init__(self, analytic, numeric, atol, rtol):
        self.analytic, self.numeric = analytic, numeric
        self.atol, self.rtol = atol, rtol
        self.abs_errors = [abs(a - n) for a, n in zip(analytic, numeric)]
        self.rel_errors = [e / max(abs(n), 1e-12) for e, n in zip(self.abs_errors, numeric)]
        self.passed = [e <= atol + rtol * abs(n) for e, n in zip(self.abs_errors, numeric)]
        self.ok = all(self.passed)

    def __bool__(self):
        return self.ok

    @property
    def max_abs_error(self):
        return max(self.abs_errors, default=0.0)

    @property
    def max_rel_error(self):
        return max(self.rel_errors, default=0.0)

    def __repr__(self):
        lines = [f"gradcheck {'passed' if self.ok else 'FAILED'} (atol={self.atol:g}, rtol={self.rtol:g})",
                 f"{'input':>6} {'autodiff':>14} {'numerical':>14} {'abs err':>10} {'rel err':>10}"]
        for i, (a, n, e, r, ok) in enumerate(zip(self.analytic, self.numeric, self.abs_errors,
                                                 self.rel_errors, self.passed)):
            lines.append(f"{i:>6} {a:>14.8g} {n:>14.8g} {e:>10.2e} {r:>10.2e}{'' if ok else '  <-- wrong'}")
        return '\n'.join(lines)


def gradcheck(f, *inputs, h=1e-6, atol=1e-6, rtol=1e-4):
    """Check reverse-mode gradients of scalar f at `inputs` against central differences.

    f receives `Value`s and returns a scalar `Value`.
    """
    if not inputs:
        raise ValueError('gradcheck needs at least one input: gradcheck(f, 1.0, 2.0)')
    leaves = [Value(x) for x in inputs]
    with enable_grad():                       # (it works inside no_grad() too)
        out = f(*leaves)
    if not isinstance(out, Value):
        raise TypeError(f'gradcheck needs f to return a Value for Value inputs, got {type(out).__name__}')
    if out.requires_grad:                     # (a constant: every gradient is 0)
        out.backward()
    analytic = [leaf.grad for leaf in leaves]
    # the differences evaluate f on Values that build no graph, so f may use .tanh() etc.
    numeric = numerical_grad(lambda *xs: plain(f(*[Value(x, requires_grad=False) for x in xs])),
                             *inputs, h=h)
    return GradcheckReport(analytic, numeric, atol, rtol)


class LocalCheck:
    """One op node's local partial for one input: table value vs central difference."""
    __slots__ = ('node', 'input_index', 'analytic', 'numeric', 'ok')

    def __init__(self, node, input_index, analytic, numeric, ok):
        self.node, self.input_index = node, input_index
        self.analytic, self.numeric, self.ok = analytic, numeric, ok

    @property
    def name(self):
        node = self.node
        label = f"'{node.label}' = " if node.label else ''
        return f"{label}{node._op}(...) node, input {self.input_index}"

    def __repr__(self):
        return (f"{'ok   ' if self.ok else 'WRONG'} {self.name}: table says {self.analytic:.8g}, "
                f"central difference says {self.numeric:.8g}")


def _at_a_kink(f, xs, i, out, analytic, h):
    """True where f has a kink in input i (relu, abs at 0) and `analytic` is one of the
    one-sided derivatives or between them (a subgradient): no single derivative exists there."""
    up, down = list(xs), list(xs)
    up[i] += h
    down[i] -= h
    try:
        right, left = (f(*up) - out) / h, (out - f(*down)) / h
    except (ArithmeticError, ValueError):
        return False
    tol = 1e-3 * (1 + abs(left) + abs(right))      # one-sided differences are only O(h) accurate
    return abs(right - left) > tol and min(left, right) - tol <= analytic <= max(left, right) + tol


def check_local_gradients(root, h=1e-6, atol=1e-6, rtol=1e-4):
    """Check each op node's local partials (from ops.OPS) against central differences of
    its own forward function at the node's inputs. Returns a list of `LocalCheck`;
    the wrong ones have `.ok == False` and name the node (label and op)."""
    if not isinstance(root, Value):
        raise TypeError(f'check_local_gradients checks the scalar ops of a Value graph, got '
                        f'{type(root).__name__}: build the expression from Values (for tensors, '
                        f'compare Tensor gradients with numerical_grad on each entry)')
    results = []
    for node in topo_sort(root):
        if not node._prev:
            continue
        row = OPS[node._op]
        if not all(isinstance(p, (Node, numbers.Real)) for p in node._prev):
            continue                          # a checkpoint node: its f is checked through its own graph
        datas = [float(p.data) if isinstance(p, Node) else float(p) for p in node._prev]
        out = row.f(*datas)
        for i, p in enumerate(node._prev):
            if not isinstance(p, Node):
                continue                      # constants have no gradient to check
            try:
                numeric = central_difference(row.f, datas, i, h)
            except (ArithmeticError, ValueError):
                continue                      # at the edge of the domain: nothing to compare
            analytic = float(row.partial(i, datas, out))
            ok = abs(analytic - numeric) <= atol + rtol * abs(numeric) or math.isclose(analytic, numeric)
            if not ok:
                ok = _at_a_kink(row.f, datas, i, out, analytic, h)
            results.append(LocalCheck(node, i, analytic, numeric, ok))
    return results


def check_op(name, *points, h=1e-5, rtol=1e-4, atol=1e-6):
    """Check row `name` of ops.OPS at each point (a tuple of inputs); a list of problems, [] if none.

    First derivatives: each partial against central differences of the forward.
    Second derivatives: `hessian` (reverse over reverse, through create_graph) and
    a Dual over a Dual, against central differences of the partials. A partial
    that calls a plain-number helper (math.cosh, np.cosh) instead of operators
    and other rows fails here, with the row's name.
    """
    from .dual import Dual                      # (functional imports this module's neighbours)
    from .functional import hessian
    from .ops import apply
    row = OPS[name]
    problems = []

    def close(got, want):
        return abs(got - want) <= atol + rtol * abs(want)

    def first(i):
        return lambda *xs: row.partial(i, xs, row.f(*xs))

    for args in points:
        args = [float(a) for a in args]
        where = f"row {name!r} at {tuple(args)}"
        out = row.f(*args)
        n = len(args)
        for i in range(n):
            want, got = central_difference(row.f, args, i, h), row.partial(i, args, out)
            if not close(plain(got), want):
                problems.append(f'{where}: partial {i} is {plain(got):.8g}, central differences '
                                f'of the forward say {want:.8g}')
        if row.surrogate:
            continue                                # deliberately not the derivative
        rule = ('a partial may use only operators and other rows (through their op functions), '
                'never a helper on plain numbers')
        try:
            H = hessian(lambda *xs: apply(name, *xs))(*args)
        except Exception as err:
            problems.append(f'{where}: hessian fails ({type(err).__name__}: {err}); {rule}')
            H = None
        for i in range(n):
            for j in range(n):
                want = central_difference(first(i), args, j, h)
                if H is not None and not close(H[i][j], want):
                    problems.append(f'{where}: hessian[{i}][{j}] is {H[i][j]:.8g}, central differences '
                                    f'of partial {i} say {want:.8g}; {rule}')
                try:
                    xs = [Dual(Dual(a, float(k == i)), Dual(float(k == j), 0.0)) for k, a in enumerate(args)]
                    got = apply(name, *xs)
                    got = plain(got.tangent.tangent if isinstance(got.tangent, Dual) else 0.0)
                except Exception as err:
                    problems.append(f'{where}: Dual over Dual fails ({type(err).__name__}: {err}); {rule}')
                    continue
                if not close(got, want):
                    problems.append(f'{where}: Dual over Dual gives d2/dx{i}dx{j} = {got:.8g}, central '
                                    f'differences of partial {i} say {want:.8g}; {rule}')
    return problems
