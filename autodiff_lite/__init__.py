"""autodiff-lite: a small automatic-differentiation engine for teaching."""
from .graph import enable_grad, is_grad_enabled, no_grad, topo_sort
from .value import Value

__version__ = '0.1.0'
