"""When ops record a graph: `no_grad()`, `enable_grad()`, and the flags the engines read.

`Value`, `Dual` and `Tensor` look at `GradMode.enabled` before they record a
node's inputs, and at `Tracing.inputs` before they let `float()` drop a
derivative. Nothing here knows any calculus.
"""
import functools

__all__ = ['GradMode', 'Tracing', 'is_grad_enabled', 'no_grad', 'enable_grad']


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
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class enable_grad(no_grad):
    """Turn graph building back on inside a `no_grad` block."""
    _mode = True
