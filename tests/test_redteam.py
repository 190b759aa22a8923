"""The grader under attack: every submission in tests/redteam/attacks.py, in one batch with two
honest classmates (first and last), then a later run. An attack scores at most what it
legitimately solved; the honest keep full marks; the repository is unchanged; no process
outlives grading. Needs bubblewrap (skipped, with the reason, where it cannot start)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autodiff_lite.grading.grader import grade
from autodiff_lite.grading.sandbox import bwrap_status

sys.path.insert(0, str(Path(__file__).parent / 'redteam'))
import attacks  # noqa: E402

OK, WHY = bwrap_status()
pytestmark = pytest.mark.skipif(not OK, reason=f'bubblewrap cannot start here: {WHY}')
ROOT = attacks.ROOT


def _git_status():
    return subprocess.run(['git', 'status', '--porcelain', '--ignored=no'], cwd=ROOT, capture_output=True,
                          text=True).stdout


def _marked_processes():
    found = []
    for pid in os.listdir('/proc'):
        try:
            if pid.isdigit() and attacks.MARKER.encode() in Path(f'/proc/{pid}/cmdline').read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.fixture(scope='module')
def batch(tmp_path_factory):
    before = _git_status()
    root = tmp_path_factory.mktemp('class')
    paths = attacks.write_class(root)
    sneaky = attacks.write_submission(root / 'hidden-only-wrong', {
        'ex1-1': '# Exercise 1.1\ndef square(x):\n    return 9.0 if x == 3.0 else 2 * x', **{
            k: v for k, v in attacks.SOLVED.items() if k != 'ex1-1'}})
    paths['hidden-only-wrong'] = sneaky
    reports = grade(list(paths.values()), attacks.FIXTURES, timeout=3, jobs=2, require_sandbox=True)
    later = grade([attacks.write_submission(root / 'later' / 'honest', attacks.SOLVED)], attacks.FIXTURES,
                  timeout=3, jobs=1, require_sandbox=True)
    return {'reports': dict(zip(paths, reports)), 'later': later[0], 'git_before': before,
            'git_after': _git_status(), 'leftovers': _marked_processes()}


@pytest.mark.parametrize('name', sorted(attacks.A))
def test_an_attack_scores_at_most_what_it_solved(batch, name):
    a, rep = attacks.A[name], batch['reports'][name]
    assert rep['points'] <= a['legit'], (name, rep['points'], [(e['exercise'], e['status'], e['message'])
                                                              for e in rep['exercises']])
    if a['error']:
        assert rep['error'], f'{name}: a notebook that could not be graded must say why'
    else:
        assert rep['points'] == a['legit'], (name, [(e['exercise'], e['status'], e['message'])
                                                    for e in rep['exercises']])


def test_there_are_at_least_thirty_attacks_in_every_family():
    families = {a['family'] for a in attacks.A.values()}
    assert len(attacks.A) >= 30
    assert families == {'patch', 'ipython', 'protocol', 'read', 'write', 'classmate', 'process', 'resource',
                        'malformed'}


def test_honest_classmates_keep_full_marks_in_the_same_batch_and_a_later_run(batch):
    for name in ('honest-first', 'honest-last'):
        rep = batch['reports'][name]
        assert (rep['points'], rep['max_points'], rep['error']) == (3, 3, None), rep
    assert (batch['later']['points'], batch['later']['error']) == (3, None), batch['later']


def test_the_repository_is_unchanged_and_no_process_outlives_grading(batch):
    assert batch['git_after'] == batch['git_before']
    assert batch['leftovers'] == []


def test_a_hidden_failure_names_the_misconception_never_the_values(batch):
    rep = batch['reports']['hidden-only-wrong']
    e = {e['exercise']: e for e in rep['exercises']}['1.1']
    assert e['status'] == 'failed' and e['hidden'] is True
    assert e['message'] == 'Exercise 1.1, a hidden test failed [doubled-not-squared]: that is 2x: square is x times x'
    assert e['misconception'] == 'doubled-not-squared'
    assert rep['points'] == 2


def test_a_visible_failure_keeps_expected_and_got(batch):
    e = batch['reports']['numpy-allclose']['exercises'][0]
    assert e['status'] == 'failed' and e['hidden'] is False
    assert e['message'].startswith('square(3.0): expected 9, got 6. Hint: that is 2x')


def test_every_notebook_gets_json_and_the_exit_code_says_one_failed(tmp_path):
    honest = attacks.write_submission(tmp_path / 'a', attacks.SOLVED)
    broken = attacks.write_submission(tmp_path / 'b', writer=attacks.A['not-json']['writer'])
    out = subprocess.run([sys.executable, '-m', 'autodiff_lite.grading', 'grade', str(honest), str(broken),
                          '--solutions', str(attacks.FIXTURES), '--json', '-', '--timeout', '5', '--strict'],
                         capture_output=True, text=True, cwd=ROOT)
    doc = json.loads(out.stdout)
    assert out.returncode == 1
    assert [n['points'] for n in doc['notebooks']] == [3, 0]
    assert doc['notebooks'][0]['error'] is None and 'not valid JSON' in doc['notebooks'][1]['error']


# --- exercises that ask for a mechanism: the probe's own instrumentation runs in the student's process -
# A call counter, a "no .grad changed" snapshot, a library switched off for the call: a student's code
# reaches all of them (closures, frames, builtins). Exercises 3.4, 4.1, 4.3 and 7.2 now check behaviour
# that only the mechanism produces: the Jacobian (3.4) or H·v (7.2) to rounding where no difference
# quotient gets that close, a graph of names that the package's topo_sort cannot walk (4.1), a graph of the test's
# own nodes that backward() does not take, with no Value of it in the sandbox (4.3).
_FD_34 = """# Exercise 3.4
def jacobian_forward(f, xs):
    xs = [float(v) for v in xs]
    h = 1e-6
    cols = []
    for j in range(len(xs)):
        up = list(xs); up[j] += h
        dn = list(xs); dn[j] -= h
        fu, fd = f(*up), f(*dn)
        cols.append([(a - b) / (2 * h) for a, b in zip(fu, fd)])
    {forge}
    return np.array(cols).T
"""
_BACKWARD_43 = """# Exercise 4.3
def backward_fixed(root):
    root.backward()                       # the task forbids it
    return {n: n.grad for n in topo_sort(root)}
"""
_FRAMES = """import sys
from autodiff_lite import Value


def _value_up_the_stack():                # a Value the probe was given, if any frame holds one
    f = sys._getframe(2)
    while f is not None:
        for v in list(f.f_locals.values()):
            if isinstance(v, Value):
                return v
        f = f.f_back
    raise ValueError('no Value up the stack')


"""
MECHANISM_ATTACKS = {   # name: (notebook, cell id, the answer); each must score 0 on that exercise
    'fd-and-call-counter-cut-through-the-closure': ('03_forward_mode.ipynb', 'ex3-4', _FD_34.replace('{forge}', (
        "for cell in f.__closure__ or ():   # the probe's counter: say one call per column\n"
        "        if isinstance(cell.cell_contents, list):\n"
        "            del cell.cell_contents[len(xs):]"))),
    'fd-and-len-shadowed': ('03_forward_mode.ipynb', 'ex3-4', (
        'import builtins\n\n\ndef len(x):\n    n = builtins.len(x)\n'
        '    return 3 if type(x) is list and n > 3 and all(v == 1 for v in x) else n\n\n\n'
        + _FD_34.replace('# Exercise 3.4\n', '').replace('{forge}', 'pass'))),
    'library-topo-sort-kept-aside': ('04_reverse_mode.ipynb', 'ex4-1', (
        '# Exercise 4.1\n_lib = [topo_sort]\n\n\ndef topo(root, inputs=None):\n    return _lib[0](root)\n')),
    'library-topo-sort-on-a-value-up-the-stack': ('04_reverse_mode.ipynb', 'ex4-1', (
        '# Exercise 4.1\n' + _FRAMES + 'def topo(root, inputs=None):\n'
        '    return topo_sort(_value_up_the_stack())\n')),
    'backward-then-grads-reset': ('04_reverse_mode.ipynb', 'ex4-3', (
        '# Exercise 4.3\ndef backward_fixed(root):\n    order = topo_sort(root)\n'
        '    before = [n.grad for n in order]\n    root.backward()\n'
        '    grads = {n: n.grad for n in order}\n    for n, g in zip(order, before):\n'
        '        n.grad = g\n    return grads\n')),
    'backward-and-any-patched-in-the-probe-frame': ('04_reverse_mode.ipynb', 'ex4-3', (
        '# Exercise 4.3\nimport sys\n\n\ndef backward_fixed(root):\n    root.backward()\n'
        "    sys._getframe(1).f_builtins['any'] = lambda it: False\n"
        '    return {n: n.grad for n in topo_sort(root)}\n')),
    'backward-and-any-in-globals': ('04_reverse_mode.ipynb', 'ex4-3',
                                    'def any(it):\n    return False\n\n\n' + _BACKWARD_43),
    'backward-and-builtins-any-patched': ('04_reverse_mode.ipynb', 'ex4-3',
                                          'import builtins\nbuiltins.any = lambda it: False\n\n\n' + _BACKWARD_43),
    'backward-on-a-value-up-the-stack': ('04_reverse_mode.ipynb', 'ex4-3', (
        '# Exercise 4.3\n' + _FRAMES + 'def backward_fixed(root):\n    v = _value_up_the_stack()\n'
        '    v.backward()\n    return {n: v.grad for n in topo_sort(root)}\n')),
    'hvp-by-differences-and-call-log-rewritten': ('07_higher_order.ipynb', 'ex7-2', (
        '# Exercise 7.2\ndef hvp_fwdrev(grad_f, x, v):\n    h = 1e-5\n'
        '    up = grad_f(*[a + h * b for a, b in zip(x, v)])\n'
        '    dn = grad_f(*[a - h * b for a, b in zip(x, v)])\n'
        "    for cell in grad_f.__closure__ or ():   # the probe's call log: one call, on Duals\n"
        '        if isinstance(cell.cell_contents, list):\n'
        "            cell.cell_contents[:] = [['Dual'] * len(x)]\n"
        '    return [(u - d) / (2 * h) for u, d in zip(up, dn)]\n')),
}
_EXERCISE = {'ex3-4': '3.4', 'ex4-1': '4.1', 'ex4-3': '4.3', 'ex7-2': '7.2'}


def _answer(nb, cid):
    """The teacher's answer cell, markers dropped: an honest classmate's."""
    cell = next(c for c in json.loads((ROOT / 'solutions' / nb).read_text())['cells'] if c.get('id') == cid)
    return ''.join(line for line in ''.join(cell['source']).splitlines(True)
                   if '### BEGIN SOLUTION' not in line and '### END SOLUTION' not in line)


def _submit(folder, nb, answers):
    sub = json.loads((ROOT / 'exercises' / nb).read_text())
    for cell in sub['cells']:
        if cell.get('id') in answers:
            cell['source'] = answers[cell['id']]
    folder.mkdir(parents=True)
    (folder / nb).write_text(json.dumps(sub))
    return folder / nb


@pytest.fixture(scope='module')
def mechanism(tmp_path_factory):
    """The attacks on 3.4, 4.1 and 4.3, between honest classmates, graded with the course's tests."""
    root = tmp_path_factory.mktemp('mechanism')
    honest = {nb: {cid: _answer(nb, cid) for cid in cids} for nb, cids in
              (('03_forward_mode.ipynb', ['ex3-4']), ('04_reverse_mode.ipynb', ['ex4-1', 'ex4-3']),
               ('07_higher_order.ipynb', ['ex7-2']))}
    slips = {'04_reverse_mode.ipynb': {     # honest mistakes: they keep their hints
        'ex4-1': honest['04_reverse_mode.ipynb']['ex4-1'].replace(
            'if p not in placed:', 'if isinstance(p, Value) and p not in placed:'),
        'ex4-3': honest['04_reverse_mode.ipynb']['ex4-3'].replace('grads[p] += row', 'grads[p] = row')}}
    jobs = [(f'honest-first/{nb}', nb, a) for nb, a in honest.items()]
    jobs += [(name, nb, {cid: code}) for name, (nb, cid, code) in MECHANISM_ATTACKS.items()]
    jobs += [(f'slips/{nb}', nb, a) for nb, a in slips.items()]
    jobs += [(f'honest-last/{nb}', nb, a) for nb, a in honest.items()]
    paths = [_submit(root / name.replace('/', '-'), nb, answers) for name, nb, answers in jobs]
    reports = grade(paths, ROOT / 'solutions', timeout=20, jobs=2, require_sandbox=True)
    return {name: {e['exercise']: e for e in rep['exercises']} for (name, _, _), rep in zip(jobs, reports)}


@pytest.mark.parametrize('name', sorted(MECHANISM_ATTACKS))
def test_a_mechanism_exercise_is_not_passed_by_forging_the_probe_s_instrumentation(mechanism, name):
    e = mechanism[name][_EXERCISE[MECHANISM_ATTACKS[name][1]]]
    assert (e['status'], e['points']) == ('failed', 0), (name, e)


def test_honest_answers_keep_full_marks_on_the_mechanism_exercises(mechanism):
    for who in ('honest-first', 'honest-last'):
        got = {**mechanism[f'{who}/03_forward_mode.ipynb'], **mechanism[f'{who}/04_reverse_mode.ipynb'],
               **mechanism[f'{who}/07_higher_order.ipynb']}
        assert [(x, got[x]['points']) for x in ('3.4', '4.1', '4.3', '7.2')] == [
            ('3.4', 2), ('4.1', 2), ('4.3', 2), ('7.2', 2)], got


def test_the_attacks_get_the_hint_an_honest_mistake_would(mechanism):
    assert 'difference quotient' in mechanism['fd-and-call-counter-cut-through-the-closure']['3.4']['message']
    assert mechanism['hvp-by-differences-and-call-log-rewritten']['7.2']['misconception'] == 'finite-differences'
    assert 'backward() is not available' in mechanism['backward-then-grads-reset']['4.3']['message']
    slips = mechanism['slips/04_reverse_mode.ipynb']
    assert slips['4.1']['misconception'] == 'inputs-filtered', slips['4.1']
    assert slips['4.3']['misconception'] == 'assign-not-accumulate', slips['4.3']
