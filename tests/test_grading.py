"""Grading machinery: checkers (their real messages) and the exercises generator.

The grader is tested on fixture notebooks in test_grading_grader.py and under attack in
test_redteam.py.
"""
import itertools
import json
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autodiff_lite import Value
from autodiff_lite.dual import Dual
from autodiff_lite.grading.__main__ import main
from autodiff_lite.grading import (check_close, check_grads, check_raises, check_topo_order,
                                   check_true, node_name)
from autodiff_lite.grading.build import (FormatError, build, check, generate, make_exercise_notebook,
                                         read_exercises)
from autodiff_lite.graph import topo_sort

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS, EXERCISES = ROOT / 'solutions', ROOT / 'exercises'
NB = '01_chain_rule.ipynb'


def failure(fn, *args, **kwargs):
    """The AssertionError message a checker raises (the test fails if it passes)."""
    with pytest.raises(AssertionError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def first_line(fn, *args, **kwargs):
    return failure(fn, *args, **kwargs).splitlines()[0]


# --- check_close ----------------------------------------------------------------------
def test_check_close_passes_within_tolerance_and_unwraps_values():
    check_close(14.0 + 1e-6, 14.0)                 # within rtol 1e-6 of 14
    check_close(Value(2.5), 2.5)
    check_close([1.0, 2.0], np.array([1.0, 2.0]))
    check_close(float('nan'), float('nan'))


def test_check_close_message_has_expected_actual_and_hint():
    msg = failure(check_close, 14.1, 14.0, name='slope', hint='look at the step')
    assert msg.splitlines()[0] == 'slope: expected 14, got 14.1. Hint: look at the step'
    assert 'largest difference 0.1' in msg.splitlines()[1]


def test_check_close_tolerance_is_respected():
    check_close(1.01, 1.0, rtol=0.02)
    assert first_line(check_close, 1.03, 1.0, rtol=0.02).startswith('value: expected 1, got 1.03.')


def test_check_close_names_a_known_mistake():
    msg = first_line(check_close, 28.0, 14.0, name='d', mistakes={28.0: 'divide by 2h'})
    assert msg == 'd: expected 14, got 28. Hint: divide by 2h'
    # list form for array-valued mistakes
    msg = first_line(check_close, [2.0, 4.0], [1.0, 2.0], mistakes=[([2.0, 4.0], 'doubled')])
    assert msg.endswith('Hint: doubled')


def test_check_close_diagnoses_a_flipped_sign():
    assert 'the sign is flipped' in first_line(check_close, 3.0, -3.0)


def test_check_close_compares_shapes_first():
    msg = failure(check_close, np.ones((2, 3)), np.ones(3), name='g')
    assert msg.splitlines()[0].startswith('g: expected shape (3,), got shape (2, 3). Hint:')


def test_check_close_none_and_non_numbers_say_what_to_fix():
    assert first_line(check_close, None, 1.0) == \
        'value: expected 1, got None. Hint: did your function `return` its result?'
    assert 'use .primal for the value or .tangent' in first_line(check_close, Dual(1.0, 2.0), 1.0)
    with pytest.raises(TypeError, match='expected must be a number'):
        check_close(1.0, 'one')


# --- check_grads: the misconceptions, produced by real buggy code ------------------------
def buggy_backward_a_times_a(a, accumulate):
    """L = a * a by hand; the buggy version assigns the second contribution instead of adding it."""
    grad = 0.0
    for contribution in (a, a):                    # d(a*a)/d(first a) = a, and the second use
        grad = grad + contribution if accumulate else contribution
    return {'a': grad}


def test_check_grads_passes_and_diagnoses_assignment_instead_of_accumulation():
    check_grads(buggy_backward_a_times_a(3.0, accumulate=True), {'a': 6.0})
    msg = first_line(check_grads, buggy_backward_a_times_a(3.0, accumulate=False), {'a': 6.0})
    assert msg.startswith("grad['a']: expected 6, got 3. Hint: this is 1/2 of the answer")
    assert 'accumulate its gradient (+=), not assign it (=)' in msg


def test_check_grads_diagnoses_a_sign_error_in_subtraction_and_division():
    a, b = 5.0, 2.0
    # d(a - b)/db = -1 and d(a/b)/db = -a/b²: the buggy versions drop the minus
    msg = first_line(check_grads, {'a': 1.0, 'b': 1.0}, {'a': 1.0, 'b': -1.0})
    assert msg.startswith("grad['b']: expected -1, got 1. Hint: the sign is flipped")
    msg = first_line(check_grads, {'b': a / b ** 2}, {'b': -a / b ** 2})
    assert 'the sign is flipped' in msg and 'division' in msg


def test_check_grads_diagnoses_a_missing_upstream_gradient():
    # L = (w x)², at w = 3, x = 2: dL/dw = 2(wx)·x = 24; local alone: x = 2; upstream 2wx = 12
    msg = first_line(check_grads, {'w': 2.0}, {'w': 24.0}, upstream=12.0)
    assert msg == ("grad['w']: expected 24, got 2. Hint: this is the local derivative alone: multiply "
                   'it by the upstream gradient (chain rule: grad_in = local partial × grad_out)')
    # without `upstream` it is not claimed
    assert 'upstream' not in first_line(check_grads, {'w': 2.0}, {'w': 24.0})


def test_check_grads_diagnoses_a_missing_reduction_over_a_broadcast_axis():
    x, b = np.arange(12.0).reshape(4, 3), np.array([1.0, 2.0, 3.0])
    grad_out = 2 * (x + b)                         # L = sum((x + b)²)
    right = grad_out.sum(axis=0)
    check_grads({'b': right}, {'b': right})
    msg = first_line(check_grads, {'b': grad_out}, {'b': right})
    assert 'shape (4, 3) is the broadcast shape: the input had shape (3,)' in msg
    assert 'sum the gradient over the broadcast axes (0,)' in msg
    # keepdims shape (1, 3) too
    msg = first_line(check_grads, {'b': grad_out}, {'b': right.reshape(1, 3)})
    assert 'broadcast axes (0,)' in msg


def test_check_grads_forward_mode_tangent_that_ignores_an_input():
    # f(x, y) = x·y at (2, 5), tangents (1, 1): tangent = y·1 + x·1 = 7; ignoring y's: 5
    def tangent(ignore_y):
        x, y = Dual(2.0, 1.0), Dual(5.0, 0.0 if ignore_y else 1.0)
        return (x * y).tangent
    contributions = {5.0: "only x's contribution: add y's, x·ẏ"}
    check_grads({'f': tangent(False)}, {'f': 7.0}, mistakes={'f': contributions})
    msg = first_line(check_grads, {'f': tangent(True)}, {'f': 7.0}, mistakes={'f': contributions})
    assert msg == "grad['f']: expected 7, got 5. Hint: only x's contribution: add y's, x·ẏ"


def test_check_grads_reports_every_wrong_gradient_and_missing_keys():
    msg = failure(check_grads, {'w': -12.0, 'b': 3.0}, {'w': 12.0, 'b': 4.0})
    assert msg.splitlines()[0].startswith("grad['w']: expected 12, got -12.")
    assert msg.splitlines()[1] == "also grad['b']: expected 4, got 3"
    assert "add the gradient for 'b'" in first_line(check_grads, {'w': 12.0}, {'w': 12.0, 'b': 4.0})
    assert 'return a dict name -> gradient' in first_line(check_grads, 12.0, {'w': 12.0})
    assert "grad['w']: expected 12, got None" in first_line(check_grads, {'w': None}, {'w': 12.0})
    assert first_line(check_grads, {'w': Value(3.0)}, {'w': 12.0}) == (
        "grad['w']: expected 12, got Value(data=3, grad=0). Hint: that is the node itself: "
        "its gradient is w.grad")


# --- check_topo_order -------------------------------------------------------------------
def small_graph():
    x, w, b = Value(2.0, label='x'), Value(3.0, label='w'), Value(1.0, label='b')
    xw = x * w
    xw.label = 'x*w'
    u = xw + b
    u.label = 'u'
    L = u * u
    L.label = 'L'
    return L, {'x': x, 'w': w, 'b': b, 'x*w': xw, 'u': u, 'L': L}


def is_valid(order):
    where = {n: i for i, n in enumerate(order)}
    return all(where[p] < where[n] for n in order for p in n._prev if isinstance(p, Value))


def test_check_topo_order_accepts_exactly_the_valid_orders():
    L, nodes = small_graph()
    accepted = 0
    for perm in itertools.permutations(nodes.values()):
        if is_valid(perm):
            check_topo_order(list(perm), L)
            accepted += 1
        else:
            failure(check_topo_order, list(perm), L)
    # L last, u before it; x and w (either order) before x*w; b in any of 4 places: 2·4 = 8
    assert accepted == 8


def test_check_topo_order_names_the_first_violated_edge():
    L, n = small_graph()
    msg = first_line(check_topo_order, [n['w'], n['x*w'], n['x'], n['b'], n['u'], L], L)
    assert msg.startswith("topological order: expected 'x' before 'x*w' (an input of it), "
                          "got 'x' at position 2 and 'x*w' at position 1.")
    assert 'your order is reversed' in first_line(check_topo_order, topo_sort(L)[::-1], L)


def test_check_topo_order_missing_duplicate_stranger_and_not_nodes():
    L, n = small_graph()
    order = topo_sort(L)
    assert "'b' is missing" in first_line(check_topo_order, [m for m in order if m is not n['b']], L)
    assert "got 'u' at positions" in first_line(check_topo_order, order[:5] + [n['u'], L], L)
    z = Value(0.0, label='z')
    assert "'z', which it does not depend on" in first_line(check_topo_order, [z] + order, L)
    assert 'not their .data' in first_line(check_topo_order, [m.data for m in order], L)


def test_node_name_falls_back_to_an_expression_of_its_inputs():
    x, w, b = Value(2.0, label='x'), Value(3.0, label='w'), Value(1.0, label='b')
    assert node_name((x * w + b) ** 2) == '(x*w+b)**2'
    assert node_name(x - (w - b)) == 'x-(w-b)'
    assert node_name((x * w).tanh()) == 'tanh(x*w)'
    assert node_name(2 * Value(4.0)) == '2*4'


# --- check_raises, check_true ----------------------------------------------------------------
def test_check_raises():
    err = check_raises(lambda: 1 / 0, ZeroDivisionError, match='division')
    assert isinstance(err, ZeroDivisionError)
    assert first_line(check_raises, lambda: 1.0, ValueError) == (
        'the call: expected ValueError to be raised, got no error (it returned 1.0). '
        'Hint: check the input and raise ValueError when it is invalid')
    assert 'got ZeroDivisionError: division by zero' in first_line(check_raises, lambda: 1 / 0, ValueError)
    assert "matching 'negative'" in first_line(check_raises, lambda: 1 / 0, ZeroDivisionError, match='negative')

    def unanswered():
        raise NotImplementedError('Exercise 9.9: do it')
    with pytest.raises(NotImplementedError):      # the grader must see "not solved yet"
        check_raises(unanswered, ValueError)


def test_check_true():
    check_true(1 < 2, 'never shown')
    assert failure(check_true, 1 > 2, 'x: expected more') == 'x: expected more'


# --- the generator --------------------------------------------------------------------
def test_committed_exercises_are_in_sync_with_solutions():
    assert check(SOLUTIONS, EXERCISES) == []


def test_generated_notebook_stubs_answers_and_hides_hidden_tests():
    src = nbformat.read(str(SOLUTIONS / NB), as_version=4)
    out = make_exercise_notebook(src)
    text = nbformat.writes(out)
    for secret in ('BEGIN SOLUTION', 'END SOLUTION', 'HIDDEN TESTS', '_engine_13', 'sinh'):
        assert secret not in text
    assert [c.id for c in out.cells] == [c.id for c in src.cells]
    assert 'widgets' not in out.metadata
    cells = {c.id: c for c in out.cells}
    assert cells['ex1-1-tests'].metadata == {'points': 2, 'tags': ['tests']}
    assert cells['ex1-1'].metadata == {'tags': ['answer']}
    for c in out.cells:
        if c.cell_type == 'code':
            assert c.outputs == [] and c.execution_count is None
            compile(c.source, c.id, 'exec')                     # the stub is valid Python
    # the stub sits at the block's indentation and quotes the first-line comment
    assert ('    L = r * r\n    raise NotImplementedError("Exercise 1.5: finish manual_backward(a, x, b), '
            'the reverse pass of L = r * r with r = a*x - b")\n    return') in cells['ex1-5'].source


def test_generator_is_deterministic_and_clears_widget_state(tmp_path):
    nb = nbformat.read(str(SOLUTIONS / NB), as_version=4)
    nb.metadata['widgets'] = {'application/vnd.jupyter.widget-state+json': {'state': {}}}
    nb.metadata['language_info'] = {'name': 'python', 'version': '3.99.0'}
    path = tmp_path / NB
    nbformat.write(nb, str(path))
    assert generate(path) == generate(path) == (EXERCISES / NB).read_bytes()


def test_drift_is_named_with_the_fix(tmp_path, capsys):
    (tmp_path / 'solutions').mkdir()
    (tmp_path / 'exercises').mkdir()
    # the teacher rewords 1.2's task; exercises/ still holds the copy generated before
    reworded = (SOLUTIONS / NB).read_text().replace('Exercise 1.2: set', 'Exercise 1.2: compute')
    (tmp_path / 'solutions' / NB).write_text(reworded)
    (tmp_path / 'exercises' / NB).write_bytes((EXERCISES / NB).read_bytes())
    (tmp_path / 'exercises' / '99_orphan.ipynb').write_text('{}')
    problems = check(tmp_path / 'solutions', tmp_path / 'exercises')
    assert problems[0].endswith(f'01_chain_rule.ipynb: run `make exercises` '
                                f'(edit {tmp_path}/solutions/{NB}, never {tmp_path}/exercises/{NB})')
    assert 'has drifted' in problems[0] and '99_orphan.ipynb has no source' in problems[1]
    assert main(['build', '--check', '--solutions', str(tmp_path / 'solutions')]) == 1
    assert 'run `make exercises`' in capsys.readouterr().err


def solved_answers():
    """The teacher's answer cells of lesson 01 (what a student who solved it would have)."""
    sol = nbformat.read(str(SOLUTIONS / NB), as_version=4)
    return {c.id: c.source for c in sol.cells if 'answer' in c.metadata.get('tags', [])}


def course_copy(tmp_path):
    """solutions/ and a freshly built exercises/ of lesson 01 in tmp_path."""
    solutions, exercises = tmp_path / 'solutions', tmp_path / 'exercises'
    solutions.mkdir()
    (solutions / NB).write_bytes((SOLUTIONS / NB).read_bytes())
    assert build(solutions, exercises) == ([exercises / NB], [])
    return solutions, exercises


def answer_in_place(path, cid, source):
    """What a student does in JupyterLab: write an answer, run the notebook, save."""
    nb = nbformat.read(str(path), as_version=4)
    next(c for c in nb.cells if c.id == cid).source = source
    for c in nb.cells:
        if c.cell_type == 'code':
            c.execution_count = 1
    nbformat.write(nb, str(path))


def test_build_never_overwrites_a_students_answers(tmp_path, capsys):
    solutions, exercises = course_copy(tmp_path)
    answer_in_place(exercises / NB, 'ex1-1', solved_answers()['ex1-1'])
    work = (exercises / NB).read_bytes()
    written, refused = build(solutions, exercises)
    assert written == [] and (exercises / NB).read_bytes() == work
    assert refused == [f"{exercises / NB} holds a student's work: answer cells ex1-1 differ from the stubs: "
                       f'not overwritten. To keep it, move it out of {exercises}/ (e.g. mkdir -p mine && '
                       f'mv {exercises / NB} mine/) and build again; to replace it with a fresh copy, '
                       'pass --force (make exercises FORCE=1)']
    args = ['--solutions', str(solutions), '--exercises', str(exercises)]
    assert main(['build'] + args) == 1
    assert "holds a student's work" in capsys.readouterr().err
    assert (exercises / NB).read_bytes() == work
    # --check tells work from drift
    problem, = check(solutions, exercises)
    assert problem.startswith(f"{exercises / NB} holds a student's work: answer cells ex1-1 differ")
    assert 'drifted' not in problem and f'move it out of {exercises}/' in problem
    # and the teacher can still force a fresh copy
    assert main(['build', '--force'] + args) == 0
    assert (exercises / NB).read_bytes() == generate(solutions / NB)


def test_build_still_updates_an_untouched_notebook_when_the_solutions_change(tmp_path):
    solutions, exercises = course_copy(tmp_path)
    stub = next(c.source for c in nbformat.read(str(exercises / NB), as_version=4).cells if c.id == 'ex1-1')
    answer_in_place(exercises / NB, 'ex1-1', solved_answers()['ex1-1'])
    answer_in_place(exercises / NB, 'ex1-1', stub)        # ... and undone: run and saved, no work left
    reworded = (solutions / NB).read_text().replace('Exercise 1.2: set', 'Exercise 1.2: compute')
    (solutions / NB).write_text(reworded)                # the stub of 1.2 changes
    assert 'has drifted' in check(solutions, exercises)[0]
    assert build(solutions, exercises) == ([exercises / NB], [])
    assert (exercises / NB).read_bytes() == generate(solutions / NB)


def doctored(edit):
    nb = nbformat.read(str(SOLUTIONS / NB), as_version=4)
    edit({c.id: c for c in nb.cells})
    return nb


@pytest.mark.parametrize('edit, message', [
    (lambda c: setattr(c['ex1-2'], 'source', c['ex1-2'].source.replace('### END SOLUTION', '')),
     "cell 'ex1-2': '### BEGIN SOLUTION' is never closed"),
    (lambda c: setattr(c['ex1-2'], 'source', c['ex1-2'].source + '\n### BEGIN SOLUTION\n### END SOLUTION'),
     'needs exactly one ### BEGIN SOLUTION'),
    (lambda c: setattr(c['ex1-3'], 'source', c['ex1-3'].source.split('\n', 1)[1]),
     "first line must be the comment '# Exercise 1.3: <what to do>'"),
    (lambda c: c['ex1-4-tests'].metadata.pop('points'), "'ex1-4-tests': metadata 'points' must be"),
    (lambda c: c['ex1-4-tests'].metadata.update(tags=[]), "needs a code cell with id 'ex1-4-tests'"),
    (lambda c: setattr(c['ex1-5-task'], 'source', c['ex1-5-task'].source.replace('(2 points)', '(3 points)')),
     "cell 'ex1-5-task': the title says 3 points, the test cell's metadata 2"),
    (lambda c: setattr(c['ex1-5-task'], 'source', c['ex1-5-task'].source.replace('**Hint:**', 'Hint:')),
     "cell 'ex1-5-task': add a line '**Hint:** ...'"),
])
def test_format_errors_name_the_cell_and_the_fix(edit, message):
    with pytest.raises(FormatError, match=None) as info:
        read_exercises(doctored(edit), 'solutions/x.ipynb')
    assert message in str(info.value)


FIXTURE = ROOT / 'tests' / 'fixtures' / 'grading' / 'solutions' / '01_fixture.ipynb'


@pytest.mark.parametrize('tests, message', [
    ("check_close(square(3.0), 9.0)", "line 1: 'square' is the student's, used outside a @probe"),
    ("_f = lambda: square\ncheck_close(_f()(3.0), 9.0)", "line 1: 'square' is the student's"),
    ("_k = 3.0\n\n\n@probe\ndef sq():\n    return square(_k)\n\n\ncheck_close(sq(), 9.0)",
     "probe sq() uses '_k' of the test cell"),
])
def test_a_test_cell_that_breaks_the_probe_rules_is_a_format_error(tests, message):
    nb = nbformat.read(str(FIXTURE), as_version=4)
    next(c for c in nb.cells if c.id == 'ex1-1-tests').source = tests
    with pytest.raises(FormatError) as info:
        read_exercises(nb, 'fixture.ipynb')
    assert message in str(info.value)


def test_locals_and_the_test_cells_own_helpers_are_not_the_students():
    nb = nbformat.read(str(FIXTURE), as_version=4)
    next(c for c in nb.cells if c.id == 'ex1-1-tests').source = (
        "@reference\ndef expect(square):\n    return [square for square in (1,)][0] * 9.0\n\n\n"
        "@probe\ndef sq(x):\n    import math\n    return square(x) + math.pi * 0\n\n\ncheck_close(sq(3.0), expect(1.0))")
    assert len(read_exercises(nb, 'fixture.ipynb')) == 3
