"""Graded exercises: checkers and probes for test cells, the exercises generator, the grader.

    from autodiff_lite.grading import check_close, check_grads, probe, reference

A test cell marks its calls into the student's work with `@probe` and the
teacher's helpers with `@reference` (docs/grading.md). `python -m
autodiff_lite.grading build` writes exercises/ from solutions/; `grade` grades.
"""
from .checks import (CheckFailure, check_close, check_grads, check_raises, check_topo_order,
                     check_true, node_name)
from .probes import hidden_rng, misconception, probe, probe_seconds, reference

__all__ = ['check_close', 'check_grads', 'check_topo_order', 'check_raises', 'check_true',
           'node_name', 'CheckFailure', 'probe', 'reference', 'hidden_rng', 'probe_seconds',
           'misconception']
