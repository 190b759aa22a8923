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
