"""Graded exercises: checkers for test cells, the exercises generator, the grader.

    from autodiff_lite.grading import check_close, check_grads

`python -m autodiff_lite.grading build` writes exercises/ from solutions/;
`python -m autodiff_lite.grading grade exercises/01_chain_rule.ipynb` grades.
"""
from .checks import (check_close, check_grads, check_raises, check_topo_order, check_true,
                     node_name)

__all__ = ['check_close', 'check_grads', 'check_topo_order', 'check_raises', 'check_true',
           'node_name']
