"""The grader on fixture notebooks (tests/fixtures/grading), not the course's: statuses, messages,
the sandbox policy, the self-check in a plain kernel, the CLI's outputs."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from autodiff_lite.grading import grader as grader_mod
from autodiff_lite.grading import sandbox as sandbox_mod
from autodiff_lite.grading.__main__ import main
from autodiff_lite.grading.grader import GradingError, format_table, grade, grade_notebook

sys.path.insert(0, str(Path(__file__).parent / 'redteam'))
import attacks  # noqa: E402

FIX = attacks.FIXTURES
HAVE_BWRAP, WHY = sandbox_mod.bwrap_status()


@pytest.fixture(scope='module')
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp('fixture-class')
    base = attacks.exercise_notebook()
    no_12 = json.loads(base)
    no_12['cells'] = [c for c in no_12['cells'] if c.get('id') != 'ex1-2']
    (root / 'deleted').mkdir()
    (root / 'deleted' / attacks.NB).write_text(json.dumps(no_12))
    paths = {
        'untouched': attacks.write_submission(root / 'untouched', {}, base=base),
        'solved': attacks.write_submission(root / 'solved', attacks.SOLVED, base=base),
        'deleted': root / 'deleted' / attacks.NB,
        'raises': attacks.write_submission(root / 'raises', {'ex1-1': '# Exercise 1.1\nsquare = 1 / 0'}, base=base),
        'magic': attacks.write_submission(root / 'magic', {
            'ex1-3': '# Exercise 1.3\n%time the_answer = 6 * 7\n# NBVAL_SKIP'}, base=base),
    }
    reports = grade(list(paths.values()), FIX, timeout=5, jobs=2, unsafe=True)
    return {name: {e['exercise']: e for e in rep['exercises']} | {'rep': rep} for name, rep in zip(paths, reports)}


def test_untouched_exercises_are_not_solved_yet_with_their_task(graded):
    for number in ('1.1', '1.2', '1.3'):
        e = graded['untouched'][number]
        assert (e['status'], e['points']) == ('not solved yet', 0)
        assert e['message'].startswith(f'Exercise {number}: ')


def test_the_teachers_answers_get_full_marks(graded):
    rep = graded['solved']['rep']
    assert (rep['points'], rep['max_points'], rep['error']) == (3, 3, None)


def test_a_deleted_answer_cell_is_named_and_an_error_is_shown(graded):
    e = graded['deleted']['1.2']
    assert e['status'] == 'missing' and "answer cell 'ex1-2' is missing" in e['message']
    e = graded['raises']['1.1']
    assert e['status'] == 'error' and e['message'] == 'answer cell raised ZeroDivisionError: division by zero'


def test_ipython_syntax_and_nbval_markers_in_an_answer_work(graded):
    assert graded['magic']['1.3']['status'] == 'passed'


def test_the_table_prints_whole_messages_below_it(graded):
    text = format_table([graded['raises']['rep'], graded['solved']['rep']])
    assert '  1.1: answer cell raised ZeroDivisionError: division by zero' in text
    assert 'all notebooks: 3/6 points' in text


def test_a_class_needs_the_sandbox_unless_told_unsafe(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox_mod, '_BWRAP', {'status': (False, 'bubblewrap (bwrap) is not installed')})
    monkeypatch.setattr(grader_mod, 'bwrap_status', sandbox_mod.bwrap_status)
    with pytest.raises(GradingError, match='needs the bubblewrap sandbox.*--unsafe'):
        grade([FIX / attacks.NB], FIX, require_sandbox=True)
    assert main(['grade', '--class', str(tmp_path), '--solutions', str(FIX)]) == 2
    warnings = []
    assert grader_mod.sandbox_mode(require=False, warn=warnings.append) is False
    assert warnings == ['warning: grading without a sandbox (bubblewrap (bwrap) is not installed); '
                        'fine for your own work, never for a class']


def test_unsandboxed_self_grading_still_works(tmp_path):
    path = attacks.write_submission(tmp_path / 'me', attacks.SOLVED)
    rep = grade_notebook(path, FIX, timeout=5, sandboxed=False)
    assert (rep['points'], rep['error']) == (3, None)


@pytest.mark.skipif(not HAVE_BWRAP, reason=f'bubblewrap cannot start here: {WHY}')
def test_grading_is_sandboxed_whenever_bwrap_starts(tmp_path):
    probe = ('# Exercise 1.3\nimport os\nthe_answer = 42 if not os.path.exists('
             + repr(str(attacks.ROOT / 'solutions')) + ') else 0')
    path = attacks.write_submission(tmp_path / 'me', {'ex1-3': probe})
    rep = grade([path], FIX, timeout=5)[0]                     # no flag at all
    assert {e['exercise']: e['status'] for e in rep['exercises']}['1.3'] == 'passed'


def test_a_notebook_without_a_teachers_copy_gets_a_row(tmp_path):
    other = tmp_path / '99_other.ipynb'
    other.write_text('{"cells": []}')
    rep = grade_notebook(other, FIX)
    assert rep['error'].startswith("99_other.ipynb: no teacher's notebook of that name")
    assert str(FIX) not in rep['error']                        # no teacher's path in a student's message


def test_the_self_check_runs_in_a_plain_kernel_with_nbval(tmp_path):
    """A work copy under `pytest --nbval-lax`: an unanswered exercise fails, a right one passes."""
    work = attacks.write_submission(tmp_path / 'work', {'ex1-3': attacks.SOLVED['ex1-3']})
    out = subprocess.run([sys.executable, '-m', 'pytest', '-q', '--nbval-lax', '--nbval-current-env',
                          '-p', 'no:cacheprovider', str(work)], capture_output=True, text=True, cwd=tmp_path)
    failed = sorted(line.split('::')[1].split(' - ')[0] for line in out.stdout.splitlines()
                    if line.startswith('FAILED'))
    # the stub of 1.1, its tests, the tests of 1.2 (its stub is inside a def); 1.3 answered: passes
    assert failed == ['Cell 1', 'Cell 2', 'Cell 4'], out.stdout[-2000:]
    assert '3 failed, 4 passed' in out.stdout.splitlines()[-1]


def test_class_outputs_gradebook_summary_chart_and_feedback(graded, tmp_path):
    from autodiff_lite.grading.report import write_class_outputs
    reports = [graded[name]['rep'] for name in ('untouched', 'solved', 'raises')]
    write_class_outputs(reports, tmp_path)
    rows = (tmp_path / 'gradebook.csv').read_text().splitlines()
    assert rows[:2] == ['student,Exercise 1.1,Exercise 1.2,Exercise 1.3,total', '(max),1,1,1,3']
    assert sorted(rows[2:]) == ['raises,0,0,0,0', 'solved,1,1,1,3', 'untouched,0,0,0,0']
    summary = (tmp_path / 'summary.md').read_text()
    assert '| 1.1 | 1/3 | 1 | 0 | 1 | - |' in summary
    assert (tmp_path / 'summary.png').read_bytes()[:4] == b'\x89PNG'
    feedback = (tmp_path / 'feedback' / 'raises.md').read_text()
    assert '**Exercise 1.1** (0/1): error' in feedback and 'ZeroDivisionError' in feedback


def test_release_has_no_solutions_and_grades_as_a_self_check(tmp_path):
    from autodiff_lite.grading.release import release
    dest = tmp_path / 'class-copy'
    files = release(dest, attacks.ROOT)
    names = {str(p.relative_to(dest)) for p in files}
    assert not any(n.startswith(('solutions/', 'tests/')) for n in names) and 'docs/grading.md' not in names
    assert 'selfcheck/01_chain_rule.ipynb' in names and 'exercises/01_chain_rule.ipynb' in names
    for p in dest.rglob('*.ipynb'):
        text = p.read_text()
        assert 'BEGIN HIDDEN TESTS' not in text
    text = (dest / 'selfcheck' / '01_chain_rule.ipynb').read_text()
    assert 'def central_diff(f, x, h=1e-5):\\n' not in text          # the teacher's answer is gone
    rep = grade_notebook(attacks.ROOT / 'solutions' / '01_chain_rule.ipynb', dest / 'selfcheck', timeout=10,
                         sandboxed=False)
    assert rep['selfcheck'] is True and rep['error'] is None and rep['points'] == rep['max_points'] > 0
    assert format_table([rep]).startswith('self-check: the visible tests only. Your grade comes from your teacher')
    with pytest.raises(FileExistsError):
        release(dest, attacks.ROOT)


def test_release_has_no_teachers_docs_and_no_dead_links(tmp_path):
    """The class's README keeps the engine docs and loses the section for teachers; no
    relative link in its Markdown (README, docs, lessons, exercises) leads nowhere."""
    import json
    import re
    from autodiff_lite.grading.release import TEACHERS_ONLY, release
    dest = tmp_path / 'class-copy'
    release(dest, attacks.ROOT)
    readme = (dest / 'README.md').read_text()
    assert 'For teachers' not in readme and '(docs/engine.md)' in readme
    assert not any((dest / rel).exists() for rel in TEACHERS_ONLY)
    link = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
    dead = []
    for doc in [dest / 'README.md', *dest.glob('docs/*.md'), *dest.glob('notebooks/*.ipynb'),
                *dest.glob('exercises/*.ipynb')]:
        text = doc.read_text()
        if doc.suffix == '.ipynb':
            text = '\n'.join(''.join(c['source']) for c in json.loads(text)['cells'] if c['cell_type'] == 'markdown')
        text = re.sub(r'`[^`\n]*`', '', re.sub(r'```.*?```', '', text, flags=re.S))
        for target in link.findall(text):
            rel = target.split('#', 1)[0]
            if not rel or re.match(r'^[a-z][a-z0-9+.-]*:', rel, re.I) or rel.startswith('../work/'):
                continue                  # a web address, an anchor, the student's own copy
            if not (doc.parent / rel).exists():
                dead.append(f'{doc.relative_to(dest)}: {target}')
    assert not dead, dead


def test_the_selftest_table_has_no_grand_total_that_reads_as_half_failed(graded):
    reports = [graded['untouched']['rep'], graded['solved']['rep']]
    assert 'all notebooks' not in format_table(reports, grand_total=False)
    assert 'all notebooks: 3/6 points' in format_table(reports)


@pytest.mark.skipif(not HAVE_BWRAP, reason=f'bubblewrap cannot start here: {WHY}')
def test_killing_the_grader_ends_its_verdict_process_and_sandbox(tmp_path):
    import os
    import signal
    import time
    import uuid
    mark = f'ADL_GRADER_TEST={uuid.uuid4().hex}'.encode()
    path = attacks.write_submission(tmp_path / 'loopy', {'ex1-1': '# Exercise 1.1\nwhile True:\n    pass'})
    env = dict(os.environ, ADL_GRADER_TEST=mark.split(b'=')[1].decode())
    grader = subprocess.Popen([sys.executable, '-m', 'autodiff_lite.grading', 'grade', str(path),
                               '--solutions', str(FIX)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ours():
        found = []
        for pid in os.listdir('/proc'):
            try:
                if pid.isdigit() and int(pid) != grader.pid and mark in Path(f'/proc/{pid}/environ').read_bytes():
                    found.append(int(pid))
            except OSError:
                pass
        return found

    deadline = time.monotonic() + 20
    while len(ours()) < 2 and time.monotonic() < deadline:     # the verdict process and bwrap
        time.sleep(0.2)
    assert len(ours()) >= 2
    grader.send_signal(signal.SIGKILL)
    grader.wait()
    deadline = time.monotonic() + 5
    while ours() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ours() == []


def test_a_relative_solutions_folder_is_the_one_graded_against(tmp_path, monkeypatch):
    """--solutions DIR relative to the working directory, not to the package (the verdict's cwd)."""
    (tmp_path / 'sol').mkdir()
    src = json.loads((Path(FIX) / attacks.NB).read_text())
    for cell in src['cells']:                 # a teacher's copy where 1.1 is worth 7 points
        if cell.get('id') == 'ex1-1-tests':
            cell['metadata']['points'] = 7
        if cell.get('id') == 'ex1-1-task':
            text = ''.join(cell['source'])
            cell['source'] = text.replace(text[text.index('('):text.index(')') + 1], '(7 points)', 1)
    (tmp_path / 'sol' / attacks.NB).write_text(json.dumps(src))
    sub = attacks.write_submission(tmp_path / 'alice', attacks.SOLVED, base=attacks.exercise_notebook())
    monkeypatch.chdir(tmp_path)
    rep = grade_notebook(sub, Path('sol'), timeout=5, sandboxed=False)
    assert rep['error'] is None, rep
    assert {e['exercise']: e['max_points'] for e in rep['exercises']}['1.1'] == 7


def test_class_dot_writes_its_grades_next_to_the_folder_by_its_name(tmp_path, monkeypatch):
    klass = tmp_path / 'class-7'
    attacks.write_submission(klass / 'alice', attacks.SOLVED, base=attacks.exercise_notebook())
    monkeypatch.chdir(klass)
    assert main(['grade', '--class', '.', '--solutions', str(FIX), '--unsafe', '--timeout', '5']) == 0
    assert (tmp_path / 'class-7-grades' / 'gradebook.csv').is_file()


def test_a_student_folder_without_a_notebook_on_top_is_named_not_skipped_silently(tmp_path, capsys):
    klass = tmp_path / 'class'
    attacks.write_submission(klass / 'alice', attacks.SOLVED, base=attacks.exercise_notebook())
    attacks.write_submission(klass / 'dave' / 'work', attacks.SOLVED, base=attacks.exercise_notebook())
    attacks.write_submission(klass / '.ipynb_checkpoints', attacks.SOLVED, base=attacks.exercise_notebook())
    assert main(['grade', '--class', str(klass), '--solutions', str(FIX), '--unsafe', '--timeout', '5']) == 0
    out = capsys.readouterr()
    assert 'dave: no notebook to grade' in out.err and 'work/' + attacks.NB in out.err
    assert '.ipynb_checkpoints' not in out.out
    assert (tmp_path / 'class-grades' / 'feedback' / 'alice.md').is_file()
