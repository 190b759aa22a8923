"""Grading machinery: checkers (their real messages), the exercises generator, the grader.

The tamper tests build doctored copies of the generated exercises/01_chain_rule.ipynb
and grade them all in one grader call (one kernel per notebook, two at a time).
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
from autodiff_lite.grading.grader import (GradingError, grade, grade_notebook,
                                          strip_nbval_markers, tamper_reason)
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
    assert msg.startswith("topological order: expected 'x' must come before 'x*w' (an input of it), "
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


# --- the grader: tamper tests -----------------------------------------------------------
def solved_answers():
    """What a student who solved everything would have in the answer cells."""
    sol = nbformat.read(str(SOLUTIONS / NB), as_version=4)
    return {c.id: c.source for c in sol.cells if 'answer' in c.metadata.get('tags', [])}


def student_copy(tmp_path, name, answers, edit=None):
    """exercises/01 with the given answer sources pasted in, then `edit(cells by id, nb)`."""
    nb = nbformat.read(str(EXERCISES / NB), as_version=4)
    cells = {c.id: c for c in nb.cells}
    for cid, source in answers.items():
        cells[cid].source = source
    if edit:
        edit(cells, nb)
    path = tmp_path / name / NB
    path.parent.mkdir()
    nbformat.write(nb, str(path))
    return path


WRONG_11 = '''# Exercise 1.1: ...
def central_diff(f, x, h=1e-5):
    return (f(x + h) - f(x)) / h
err_central = 0.01'''
WRONG_13 = '''# Exercise 1.3: ...
def chain_grads(w, x, b):
    u = w * x + b
    return {'w': u * x, 'x': u * w, 'b': u}
engine_grads = {'w': 8.0, 'x': 6.0, 'b': 4.0}'''
WRONG_14 = '''# Exercise 1.4: ...
import math
def dh(x):
    return 2 * x * math.cos(x ** 2) * math.exp(x)
def dh_engine(x):
    return dh(x)'''
ASSIGNED_15 = '''# Exercise 1.5: ...
def manual_backward(a, x, b):
    r = a * x - b
    grad_r = r * 1.0
    grad_r = r * 1.0          # assigned, not accumulated
    return {'a': x * grad_r, 'x': a * grad_r, 'b': -grad_r}
'''
CHEAT_15 = ASSIGNED_15 + '''
def check_grads(*args, **kwargs):
    pass'''


def tamper_a(cells, nb):
    """Wrong answers everywhere, each with a different way of faking its test cell."""
    ok = nbformat.v4.new_output('execute_result', {'text/plain': "'all tests passed'"}, execution_count=3)
    cells['ex1-1-tests'].outputs = [ok]                       # a saved "passing" output
    cells['ex1-1-tests'].execution_count = 3
    cells['ex1-2-tests'].source = '# NBVAL_SKIP\n' + cells['ex1-2-tests'].source
    cells['ex1-3-tests'].metadata['tags'] = ['tests', 'raises-exception']
    nb.cells.remove(cells['ex1-4-tests'])                     # the test cell deleted
    cells['ex1-5-tests'].source = 'pass'                      # the test cell emptied


def tamper_b(cells, nb):
    cells['ex1-1'].source = '# NBVAL_RAISES_EXCEPTION\n' + cells['ex1-1'].source   # stub kept
    nb.cells.remove(cells['ex1-3'])                           # an answer cell deleted


@pytest.fixture(scope='module')
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('grading')
    solved = solved_answers()
    wrong_12 = solved['ex1-2'].replace('ratio_central = central_err(0.01) / central_err(0.005)',
                                       'ratio_central = forward_err(0.01) / forward_err(0.005)')
    paths = {
        'untouched': EXERCISES / NB,
        'solved': student_copy(tmp, 'solved', solved),
        'a': student_copy(tmp, 'a', {'ex1-1': WRONG_11, 'ex1-2': wrong_12, 'ex1-3': WRONG_13,
                                     'ex1-4': WRONG_14, 'ex1-5': CHEAT_15}, tamper_a),
        'b': student_copy(tmp, 'b', {
            'ex1-2': '# Exercise 1.2: ...\nwhile True:\n    pass',
            'ex1-4': WRONG_14 + '\nexec("check_close = lambda *args, **kwargs: None")',
            'ex1-5': '# NBVAL_SKIP\n' + solved['ex1-5']}, tamper_b),
        'stubborn': student_copy(tmp, 'stubborn', dict(solved, **{'ex1-1': (
            '# Exercise 1.1: ...\nimport time\nwhile True:\n    try:\n        time.sleep(0.05)\n'
            '    except KeyboardInterrupt:\n        pass')})),
    }
    reports = grade(list(paths.values()), SOLUTIONS, timeout=3, jobs=2)
    return {name: {e['exercise']: e for e in rep['exercises']} | {'total': rep['points']}
            for name, rep in zip(paths, reports)}


def test_untouched_exercises_score_zero_not_solved_yet(graded):
    for number in ('1.1', '1.2', '1.3', '1.4', '1.5'):
        e = graded['untouched'][number]
        assert (e['status'], e['points']) == ('not solved yet', 0)
        assert e['message'].startswith(f'Exercise {number}: ')
    assert graded['untouched']['total'] == 0


def test_a_solved_copy_scores_full_marks(graded):
    assert graded['solved']['total'] == 10
    assert {e['status'] for k, e in graded['solved'].items() if k != 'total'} == {'passed'}


def test_a_saved_passing_output_does_not_count(graded):
    e = graded['a']['1.1']
    assert (e['status'], e['points']) == ('failed', 0)
    assert e['message'].startswith('central_diff(f, 3.0): expected 14, got 14.00003')
    assert 'forward difference' in e['message']


def test_nbval_skip_on_a_test_cell_does_not_count(graded):
    e = graded['a']['1.2']
    assert (e['status'], e['points']) == ('failed', 0)
    assert 'ratio_central: expected 4, got 2.00' in e['message']
    assert 'first order: did you use the forward difference?' in e['message']


def test_raises_exception_tag_on_a_test_cell_does_not_count(graded):
    e = graded['a']['1.3']
    assert (e['status'], e['points']) == ('failed', 0)
    assert "grad['w']: expected 8, got 4. Hint: the power rule gives d(u²)/du = 2u" in e['message']


def test_a_deleted_or_emptied_test_cell_does_not_count(graded):
    e = graded['a']['1.4']
    assert (e['status'], e['points']) == ('failed', 0)
    assert "the term sin(x²)·eˣ is missing" in e['message']


def test_a_checker_redefined_in_the_answer_is_rejected(graded):
    e = graded['a']['1.5']
    assert (e['status'], e['points']) == ('rejected', 0)
    assert e['message'] == "answer cell redefines the checker 'check_grads': answers may not change the tests"


def test_a_checker_redefined_behind_exec_is_restored_before_the_tests(graded):
    e = graded['b']['1.4']
    assert (e['status'], e['points']) == ('failed', 0)
    assert e['message'].startswith('dh(0.7): expected 3.435244413, got')


def test_nbval_markers_in_an_answer_change_nothing(graded):
    e = graded['b']['1.1']
    assert (e['status'], e['points']) == ('not solved yet', 0)
    assert graded['b']['1.5']['status'] == 'passed'         # '# NBVAL_SKIP' on a right answer


def test_an_infinite_loop_times_out_and_the_rest_is_still_graded(graded):
    e = graded['b']['1.2']
    assert (e['status'], e['points']) == ('timed out', 0)
    assert e['message'] == 'answer cell timed out after 3 s (an infinite loop?)'
    assert graded['b']['1.5']['points'] == 2


def test_a_loop_that_swallows_the_interrupt_restarts_the_kernel(graded):
    e = graded['stubborn']['1.1']
    assert (e['status'], e['message']) == ('timed out', 'answer cell timed out after 3 s (an infinite loop?)')
    assert graded['stubborn']['total'] == 8                  # the other four, after the restart


def test_a_deleted_answer_cell_is_reported_by_id(graded):
    e = graded['b']['1.3']
    assert (e['status'], e['points']) == ('missing', 0)
    assert e['message'].startswith("answer cell 'ex1-3' is missing (deleted, or its id changed)")


# --- the grader: right answers written another way, and what a failure is blamed on ----------
def solution_cell(lesson, cid):
    nb = nbformat.read(str(SOLUTIONS / f'{lesson}.ipynb'), as_version=4)
    return next(c.source for c in nb.cells if c.get('id') == cid)


def lesson_copy(tmp_path, name, lesson, answers):
    """exercises/<lesson> with the given answer sources pasted in (the other answers left stubs)."""
    nb = nbformat.read(str(EXERCISES / f'{lesson}.ipynb'), as_version=4)
    for cell in nb.cells:
        if cell.get('id') in answers:
            cell.source = answers[cell.id]
    path = tmp_path / name / f'{lesson}.ipynb'
    path.parent.mkdir()
    nbformat.write(nb, str(path))
    return path


EVALUATE_LOOP_NAMED_NODE_NAME = """def evaluate(program, inputs):
    funcs = {'add': lambda a, b: a + b, 'sub': lambda a, b: a - b, 'mul': lambda a, b: a * b,
             'div': lambda a, b: a / b, 'neg': lambda a: -a, 'exp': math.exp}
    values = dict(inputs)
    for node_name, op, *args in program:
        if op not in funcs:
            raise ValueError(f'{node_name}: unknown op {op!r}')
        for a in args:
            if a not in values:
                raise ValueError(f'{node_name}: {a!r} is not defined yet')
        values[node_name] = funcs[op](*(values[a] for a in args))
    return values
"""


def sgd_step_zeroing(when):
    """Exercise 5.4 with zero_grad() after the update, or between backward() and the update."""
    update = '    for p in params:\n        p.data -= lr * p.grad\n'
    zero = '    for p in params:\n        p.zero_grad()\n'
    body = '    loss = loss_fn()\n    loss.backward()\n' + (update + zero if when == 'after' else zero + update)
    return f'def sgd_step(params, loss_fn, lr):\n{body}    return loss.data\n'


@pytest.fixture(scope='module')
def graded_lessons(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('lessons')
    paths = {
        'evaluate': lesson_copy(tmp, 'evaluate', '02_computational_graphs',
                                {'ex2-4': EVALUATE_LOOP_NAMED_NODE_NAME}),
        'vague': lesson_copy(tmp, 'vague', '02_computational_graphs', {
            'ex2-4': EVALUATE_LOOP_NAMED_NODE_NAME.replace("f'{node_name}: {a!r} is not defined yet'",
                                                           "'unknown input in this instruction'")}),
        'forward': lesson_copy(tmp, 'forward', '03_forward_mode', {
            # 3.1 does not parse, so MyDual is never defined; 3.2 and 3.3 are right and need it
            'ex3-1': solution_cell('03_forward_mode', 'ex3-1').replace('a * d + b * c)', 'a * d + b * c'),
            'ex3-2': solution_cell('03_forward_mode', 'ex3-2').split('\n\n\ndual_div(')[0],  # no demo line
            'ex3-3': solution_cell('03_forward_mode', 'ex3-3')}),
        'mlp': lesson_copy(tmp, 'mlp', '05_mlp', {
            'ex5-1': solution_cell('05_mlp', 'ex5-1').replace('Variable.tanh = tanh',
                                                             "setattr(Variable, 'tanh', tanh)"),
            'ex5-4': sgd_step_zeroing('after')}),
        'mlp_between': lesson_copy(tmp, 'mlp_between', '05_mlp', {'ex5-4': sgd_step_zeroing('between')}),
    }
    reports = grade(list(paths.values()), SOLUTIONS, timeout=30, jobs=2)
    return {name: {e['exercise']: e for e in rep['exercises']} for name, rep in zip(paths, reports)}


def test_a_loop_variable_named_like_a_helper_in_a_function_is_graded(graded_lessons):
    e = graded_lessons['evaluate']['2.4']
    assert (e['status'], e['points'], e['message']) == ('passed', 2, '')


def test_an_error_message_must_name_the_missing_name_not_merely_contain_its_letter(graded_lessons):
    # 'unknown input in this instruction' has a w and an s in it, and names neither
    e = graded_lessons['vague']['2.4']
    assert (e['status'], e['points']) == ('failed', 0)
    assert e['message'] == ("the error for a missing input: expected a message naming 'w', got "
                            "'unknown input in this instruction'. Hint: say which name is not defined, "
                            'not only that one is')


def test_zero_grad_after_the_update_is_told_apart_from_zero_grad_before_it(graded_lessons):
    e = graded_lessons['mlp']['5.4']                          # backward, update, zero_grad
    assert (e['status'], e['points']) == ('failed', 0)
    assert e['message'].startswith("grad['a']: expected 3, got 0. Hint: the gradients are zero after the step, "
                                   'though the update itself was right: zero_grad() ran after the update')
    assert 'between' not in e['message']
    e = graded_lessons['mlp_between']['5.4']                  # backward, zero_grad, update
    assert (e['status'], e['points']) == ('failed', 0)
    assert e['message'].startswith("grad['a']: expected 3, got 0. Hint: the gradients are zero after the step "
                                   'and the parameters did not move: the update used zero gradients. Call '
                                   'zero_grad() before backward(), not between backward() and the update')


def test_a_name_an_earlier_failed_answer_was_to_define_is_blamed_on_that_answer(graded_lessons):
    got = graded_lessons['forward']
    assert got['3.1']['status'] == 'error'
    assert got['3.1']['message'].startswith('answer cell raised SyntaxError: ')
    # 3.2's answer cell runs (a def), its test cell hits the NameError; 3.3's answer cell hits it itself
    assert (got['3.2']['status'], got['3.2']['message']) == (
        'failed', "needs Exercise 3.1, which failed first: name 'MyDual' is not defined")
    assert (got['3.3']['status'], got['3.3']['message']) == (
        'error', "needs Exercise 3.1, which failed first: name 'MyDual' is not defined")
    assert got['3.4']['status'] == got['3.5']['status'] == 'not solved yet'


def test_a_method_attached_with_setattr_is_graded(graded_lessons):
    e = graded_lessons['mlp']['5.1']
    assert (e['status'], e['points'], e['message']) == ('passed', 2, '')


# --- the grader: no kernel needed ---------------------------------------------------------
@pytest.mark.parametrize('source, reason', [
    ('def check_close(*a, **k):\n    pass', "redefines the checker 'check_close'"),
    ('check_grads = print', "redefines the checker 'check_grads'"),
    ('from math import isclose as check_close', "rebinds the checker 'check_close'"),
    ('import autodiff_lite.grading as g\ng.check_grads = None', "redefines the checker 'check_grads'"),
    ('import numpy as np\nnp.allclose = lambda *a, **k: True', "changes the module attribute 'np.allclose'"),
    ("import autodiff_lite.grading.checks as c\nsetattr(c, 'check_close', 1)", "redefines the checker 'check_close'"),
    ("import numpy\nsetattr(numpy, 'allclose', lambda *a, **k: True)", "changes the module attribute 'numpy.allclose'"),
    ("delattr(np, 'allclose')", "changes the module attribute 'np.allclose'"),
    ("setattr(get_ipython(), 'showtraceback', print)", "uses 'showtraceback'"),
    ("def patch(obj, name):\n    setattr(obj, name, None)", 'uses setattr() with a computed attribute name'),
    ('put = setattr', 'uses setattr() other than as setattr(obj, name, ...)'),
    ('get_ipython().set_custom_exc((AssertionError,), print)', "uses 'set_custom_exc'"),
    ('import sys\nsys.excepthook = print', "changes the module attribute 'sys.excepthook'"),
])
def test_tamper_reason_catches_changes_to_the_checkers(source, reason):
    assert reason in tamper_reason(source)


@pytest.mark.parametrize('source', [
    'from autodiff_lite.grading import check_close\ncheck_close(1.0, 1.0)',
    "w = Value(1.0)\nw.grad = 0.0\nx = {'check_close': 1}",
    '%timeit sum(range(10))\n!echo hi',
    'def f(:\n',                                    # a syntax error is the kernel's to report
    "class Variable:\n    pass\nsetattr(Variable, 'tanh', lambda self: self)",   # a method attached
    "class Variable:\n    pass\nfor name in ('exp', 'tanh'):\n    setattr(Variable, name, None)",
])
def test_tamper_reason_leaves_ordinary_answers_alone(source):
    assert tamper_reason(source) is None


@pytest.mark.parametrize('source', [
    'def evaluate(program, inputs):\n    for check_true, op, *args in program:\n        pass',
    'def f():\n    check_close = 1\n    return check_close',
    'def f():\n    from math import isclose as check_close',
    'def f():\n    try:\n        pass\n    except ValueError as check_raises:\n        pass',
    'class C:\n    check_grads = None',
    'f = lambda check_grads: check_grads',
    'squares = [check_close ** 2 for check_close in range(3)]',
    "node_name = 'x'",                               # a helper of the messages, not a checker
])
def test_a_local_name_like_a_checker_is_not_a_redefinition(source):
    assert tamper_reason(source) is None


@pytest.mark.parametrize('source', [
    'for check_close in range(3):\n    pass',
    'if True:\n    def check_topo_order(order, root):\n        pass',
    'with open(__file__) as check_grads:\n    pass',
    'try:\n    pass\nexcept ValueError as check_true:\n    pass',
    'del check_close',
    'def f():\n    global check_close\n    check_close = None',
    'squares = [(check_close := n) for n in range(3)]',
    'match 1:\n    case check_raises:\n        pass',
])
def test_a_notebook_level_rebinding_of_a_checker_is_rejected(source):
    assert 'redefines the checker' in tamper_reason(source)


def test_strip_nbval_markers():
    src = '# NBVAL_SKIP\nx = 1\n  #   NBVAL_RAISES_EXCEPTION  \n# NBVAL_SKIP because\ny = 2'
    assert strip_nbval_markers(src) == 'x = 1\n# NBVAL_SKIP because\ny = 2'


def test_usage_errors_and_unreadable_notebooks(tmp_path, capsys):
    with pytest.raises(GradingError, match='no such notebook'):
        grade([tmp_path / NB], SOLUTIONS)
    other = tmp_path / '77_unknown.ipynb'
    other.write_text('{}')
    with pytest.raises(GradingError, match="no teacher's copy"):
        grade_notebook(other, SOLUTIONS)
    broken = tmp_path / NB
    broken.write_text('{"cells": [')
    rep = grade_notebook(broken, SOLUTIONS)
    assert rep['points'] == 0 and rep['max_points'] == 10
    assert rep['exercises'][0]['message'].startswith('could not read the notebook: ')
    assert main(['grade', str(tmp_path / 'nope.ipynb')]) == 2
    assert 'no such notebook' in capsys.readouterr().err


def test_a_notebook_without_a_teachers_copy_gets_an_error_row_and_the_rest_is_graded(tmp_path, capsys):
    stray = tmp_path / f'alice_{NB}'
    stray.write_bytes((EXERCISES / NB).read_bytes())
    results = tmp_path / 'results.json'
    assert main(['grade', str(stray), str(EXERCISES / NB), '--json', str(results)]) == 1
    out = capsys.readouterr().out
    first, second = json.loads(results.read_text())['notebooks']
    assert (first['notebook'], first['exercises'], first['points']) == (str(stray), [], 0)
    assert first['error'].startswith(f"{stray}: no teacher's copy of that name in ")
    assert '(01_chain_rule.ipynb, 02_computational_graphs.ipynb' in first['error']
    assert 'Did you mean 01_chain_rule.ipynb?' in first['error']
    assert second['error'] is None
    assert first['solutions'] is None and second['solutions'].endswith(f'solutions/{NB}')
    assert [e['status'] for e in second['exercises']] == ['not solved yet'] * 5
    assert f'alice_{NB}  NOT GRADED' in out and "  error: " in out
    assert 'not solved yet  Exercise 1.1: write central_diff' in out
    assert '1 of 2 notebooks could not be graded' in out


def test_cli_json_on_stdout_table_on_stderr(capsys):
    assert main(['grade', str(EXERCISES / NB), '--json', '-']) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert (doc['points'], doc['max_points']) == (0, 10)
    assert [e['status'] for e in doc['notebooks'][0]['exercises']] == ['not solved yet'] * 5
    assert 'total        0/10' in err and 'not solved yet  Exercise 1.1: write central_diff' in err


def test_the_2_4_hidden_tests_want_the_missing_name_itself():
    # the patterns the hidden tests of 2.4 use, read from the solutions notebook
    import re
    nb = nbformat.read(Path(__file__).parent.parent / 'solutions' / '02_computational_graphs.ipynb', as_version=4)
    source = next(c.source for c in nb.cells if c.get('id') == 'ex2-4-tests')
    found = re.findall(r're\.search\(r"(.*?)", str\(_err\)\)', source)
    assert len(found) == 2
    named_w, named_s = (re.compile(p) for p in found)
    for message in ("name 'w' is not defined", 'input w is missing', "w's value is unknown"):
        assert named_w.search(message), message
    for message in ("'s' is used before it is computed", "s's value is not computed yet"):
        assert named_s.search(message), message
    for message in ('unknown input in this instruction', "it's missing", 'the inputs dict'):
        assert not named_w.search(message) and not named_s.search(message), message
