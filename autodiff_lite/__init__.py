"""autodiff-lite: a small automatic-differentiation engine for teaching.

    from autodiff_lite import Value
    x = Value(2.0, label='x'); y = (x * x + 3).tanh(); y.backward(); x.grad
"""
from .checkpoint import checkpoint
from .course import best_time, setup
from .dual import Dual
from .functional import grad, gradients, hessian, hvp, jacobian, jvp, value_and_grad, vjp
from .gradcheck import check_local_gradients, gradcheck, numerical_grad
from .graph import topo_sort
from .modes import enable_grad, is_grad_enabled, no_grad
from .ops import define_op
from .tensor import Tensor
from .value import Value
from .viz import backward_steps, draw_graph

__all__ = ['Value', 'Dual', 'Tensor', 'no_grad', 'enable_grad', 'is_grad_enabled', 'define_op',
           'grad', 'value_and_grad', 'jvp', 'vjp', 'jacobian', 'hessian', 'hvp', 'gradients', 'checkpoint',
           'gradcheck', 'numerical_grad', 'check_local_gradients',
           'topo_sort', 'draw_graph', 'backward_steps', 'setup', 'best_time']
__version__ = '0.1.0'
