"""Probes: the marked calls of a test cell into the student's work.

A test cell marks what it asks of the student's code with `@probe`, and the
teacher's own helpers (expected values, tables of wrong answers) with
`@reference`:

    @probe                                # runs on the student's work
    def engine_grads(w, x, b):
        return chain_grads(w, x, b)

    @reference                            # the teacher's, never in the student's process
    def expected(w, x, b):
        ...

    check_grads(engine_grads(1.5, 2.0, -1.0), expected(1.5, 2.0, -1.0))

A probe's arguments and result cross as plain data (see `wire.py`): in a
student's own kernel the probe runs right there, on copies of its arguments,
and returns what the wire would carry, so a self-check sees exactly what the
grader sees. When graded, the call is sent to the sandbox where the student's
answer cells ran, and the result comes back as data; the checkers then run in
the grading process.
"""
import functools
import time
import zlib

import numpy as np

from . import wire

__all__ = ['probe', 'reference', 'hidden_rng', 'probe_seconds', 'misconception', 'Misconception',
           'ProbeError']


class _State:
    """Where probes go. `call` is None in a student's kernel (run here) or set by the grader."""
    call = None            # grader: f(name, payload) -> result payload (or raises)
    seed = 0               # the per-run seed of hidden inputs (0 outside grading)
    cell = ''              # the test cell being run (grader), for hidden_rng
    last_seconds = None


class ProbeError(Exception):
    """A test cell used a probe the wrong way (an authoring error, not the student's)."""


def probe(fn):
    """Mark `fn` (a function of a test cell) as a probe: a call into the student's work.

    Its arguments must be plain data (numbers, strings, lists, tuples, dicts,
    numpy arrays, Value/Dual/Tensor graphs); its result is returned as plain
    data (a graph as read-only nodes with label, op, data, grad and inputs).
    """
    if not callable(fn):
        raise ProbeError(f'@probe marks a function of the test cell, got {fn!r}')

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            payload, originals = wire.pack_args(args, kwargs)
        except wire.WireError as err:
            raise ProbeError(f'probe {fn.__name__}(...): {err}. A probe takes plain data; build '
                             'functions and objects inside the probe') from None
        start = time.perf_counter()
        try:
            if _State.call is None:
                result = _run_here(fn, payload)
            else:
                result = _State.call(fn.__name__, payload)
        finally:
            _State.last_seconds = time.perf_counter() - start
        return wire.unpack_result(result, originals)

    call.__probe__ = fn
    return call


def _run_here(fn, payload):
    """A student's own kernel: run the probe on copies of its arguments, return the wire's form."""
    args, kwargs, copies = wire.unpack_args(payload)
    result = fn(*args, **kwargs)        # an error is the student's: it shows as it is
    return wire.pack_result(result, copies)


def reference(fn):
    """Mark `fn` as the teacher's helper: expected values, wrong answers. It never runs the
    student's code (it only gets numbers), and in grading it runs in the grading process."""
    fn.__reference__ = True
    return fn


def hidden_rng(stream=''):
    """A numpy Generator for hidden inputs: the grader seeds it per run (a student cannot see
    the seed), so a table of answers from an earlier report does not carry over. Outside
    grading it is seeded with 0. Use it in the hidden block only."""
    key = zlib.crc32(f'{_State.cell}:{stream}'.encode())
    return np.random.default_rng([_State.seed, key])


def probe_seconds():
    """Wall time of the last probe call, measured outside the student's code."""
    return _State.last_seconds


class Misconception(str):
    """A hint that carries a stable misconception id (counted in the class summary)."""
    id = None

    def __new__(cls, id, text):
        out = super().__new__(cls, text)
        out.id = id
        return out

    def __reduce__(self):
        return (Misconception, (self.id, str(self)))


def misconception(id, text):
    """A hint with a stable id, e.g. misconception('sign-flip', 'check the order in a - b')."""
    return Misconception(id, text)
