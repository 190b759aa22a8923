"""The student's work copies (autodiff_lite.workcopy) and the Makefile targets around them."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autodiff_lite import workcopy
from autodiff_lite.workcopy import WorkCopyError, fresh, has_answers, make_copies, resolve

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix) if sys.prefix != sys.base_prefix else None      # the venv running the tests


def notebook(answer='raise NotImplementedError("Exercise 1.1: do it")'):
    cells = [{'cell_type': 'code', 'id': 'ex1-1', 'metadata': {'tags': ['answer']},
              'source': answer, 'outputs': [], 'execution_count': None}]
    return json.dumps({'cells': cells, 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}, indent=1) + '\n'


@pytest.fixture
def course(tmp_path):
    (tmp_path / 'exercises').mkdir()
    for name in ('01_chain_rule.ipynb', '02_computational_graphs.ipynb'):
        (tmp_path / 'exercises' / name).write_text(notebook())
    return tmp_path


def test_first_copy_then_never_over_it(course):
    made = make_copies(course)
    assert [p.name for p, _ in made] == ['01_chain_rule.ipynb', '02_computational_graphs.ipynb']
    mine = course / 'work' / '01_chain_rule.ipynb'
    mine.write_text(notebook('x = 1'))
    (course / 'exercises' / '01_chain_rule.ipynb').write_text(notebook('# a course update'))
    assert make_copies(course) == []
    assert mine.read_text() == notebook('x = 1')


def test_new_exercises_notebook_is_copied_later(course):
    make_copies(course)
    (course / 'exercises' / '03_forward_mode.ipynb').write_text(notebook())
    assert [p.name for p, _ in make_copies(course)] == ['03_forward_mode.ipynb']


def test_answers_typed_into_exercises_come_along_with_a_way_on(course):
    (course / 'exercises' / '01_chain_rule.ipynb').write_text(notebook('x = 1'))
    made = dict((p.name, note) for p, note in make_copies(course))
    assert json.loads((course / 'work' / '01_chain_rule.ipynb').read_text())['cells'][0]['source'] == 'x = 1'
    assert 'git checkout exercises/01_chain_rule.ipynb' in made['01_chain_rule.ipynb']
    assert made['02_computational_graphs.ipynb'] == ''
    assert has_answers(course / 'exercises' / '01_chain_rule.ipynb')
    assert not has_answers(course / 'exercises' / '02_computational_graphs.ipynb')


@pytest.mark.parametrize('name', ['01', '01_chain_rule', '01_chain_rule.ipynb',
                                  'work/01_chain_rule.ipynb', 'exercises/01_chain_rule.ipynb'])
def test_names_a_student_may_give(course, name):
    assert resolve(name, course) == '01_chain_rule.ipynb'


def test_unknown_name_lists_the_choices(course):
    with pytest.raises(WorkCopyError, match=r"'07'.*01_chain_rule, 02_computational_graphs.*NB=01"):
        resolve('07', course)
    with pytest.raises(WorkCopyError, match='no single'):
        resolve('0', course)


def test_fresh_moves_the_old_copy_aside(course):
    make_copies(course)
    mine = course / 'work' / '01_chain_rule.ipynb'
    mine.write_text(notebook('x = 1'))
    new, old = fresh('01', course)
    assert new == mine and mine.read_text() == notebook()
    assert old.parent == course / 'work' / 'previous' and old.read_text() == notebook('x = 1')
    # a second fresh within the same second keeps both old copies
    mine.write_text(notebook('x = 2'))
    _, old2 = fresh('01', course)
    assert old2 != old and old2.read_text() == notebook('x = 2') and old.exists()
    # previous/ is not work/*.ipynb: `make grade` does not pick the old copies up
    assert sorted(p.name for p in (course / 'work').glob('*.ipynb')) == [
        '01_chain_rule.ipynb', '02_computational_graphs.ipynb']


def test_fresh_without_a_copy_yet(course):
    new, old = fresh('02_computational_graphs', course)
    assert old is None and new.exists()


def test_no_exercises_folder_says_where_to_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(workcopy, '__file__', str(tmp_path / 'pkg' / 'workcopy.py'))
    with pytest.raises(WorkCopyError, match='from the course folder'):
        workcopy.course_root()


def test_cli(course, monkeypatch, capsys):
    monkeypatch.chdir(course)
    assert workcopy.main([]) == 0
    assert 'work/01_chain_rule.ipynb: your copy of exercises/01_chain_rule.ipynb' in capsys.readouterr().out
    assert workcopy.main(['--fresh', '01']) == 0
    out = capsys.readouterr().out
    assert 'work/previous/01_chain_rule-' in out and 'a fresh copy' in out
    assert workcopy.main(['--fresh', 'nope']) == 2
    assert 'give one of' in capsys.readouterr().err


def test_work_is_ignored_by_git():
    assert subprocess.run(['git', 'check-ignore', '-q', 'work/01_chain_rule.ipynb'], cwd=ROOT).returncode == 0


def git(cwd, *args):
    subprocess.run(['git', '-c', 'user.name=t', '-c', 'user.email=t@t', *args], cwd=cwd, check=True,
                   capture_output=True)


def test_answers_survive_a_course_update_by_git_pull(tmp_path):
    upstream = tmp_path / 'course'
    (upstream / 'exercises').mkdir(parents=True)
    (upstream / 'exercises' / '01_chain_rule.ipynb').write_text(notebook())
    shutil.copy(ROOT / '.gitignore', upstream / '.gitignore')
    git(upstream, 'init', '-q')
    git(upstream, 'add', '.')
    git(upstream, 'commit', '-qm', 'course')
    student = tmp_path / 'student'
    git(tmp_path, 'clone', '-q', str(upstream), str(student))
    make_copies(student)
    mine = student / 'work' / '01_chain_rule.ipynb'
    mine.write_text(notebook('my answer'))
    (upstream / 'exercises' / '01_chain_rule.ipynb').write_text(notebook('raise NotImplementedError("new")'))
    git(upstream, 'commit', '-qam', 'update')
    git(student, 'pull', '-q')                           # no conflict: work/ is not tracked
    assert mine.read_text() == notebook('my answer')
    assert 'new' in (student / 'exercises' / '01_chain_rule.ipynb').read_text()
    assert make_copies(student) == []


def test_answers_survive_make_exercises(tmp_path):
    for d in ('solutions', 'exercises'):
        shutil.copytree(ROOT / d, tmp_path / d)
    make_copies(tmp_path)
    mine = tmp_path / 'work' / '01_chain_rule.ipynb'
    mine.write_text(notebook('my answer'))
    (tmp_path / 'exercises' / '01_chain_rule.ipynb').unlink()
    subprocess.run([sys.executable, '-m', 'autodiff_lite.grading', 'build', '--force',
                    '--solutions', str(tmp_path / 'solutions'), '--exercises', str(tmp_path / 'exercises')],
                   check=True, capture_output=True)
    assert (tmp_path / 'exercises' / '01_chain_rule.ipynb').exists()
    assert mine.read_text() == notebook('my answer')


def make(cwd, *args):
    """The Makefile's own recipe, with this venv (never reinstalled: -o marks its stamp as up to date)."""
    if shutil.which('make') is None or VENV is None:
        pytest.skip('needs make and a venv')
    stamp = f'{VENV}/.installed'
    return subprocess.run(['make', '--no-print-directory', '-o', stamp, f'VENV={VENV}', *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_make_grade_without_a_work_copy_says_what_to_do(tmp_path):
    shutil.copy(ROOT / 'Makefile', tmp_path / 'Makefile')
    r = make(tmp_path, 'grade')
    assert r.returncode != 0
    assert 'no work copy yet' in r.stdout and 'make lab' in r.stdout


def test_make_fresh_needs_a_name(tmp_path):
    shutil.copy(ROOT / 'Makefile', tmp_path / 'Makefile')
    r = make(tmp_path, 'fresh')
    assert r.returncode != 0 and 'make fresh NB=01' in r.stdout


def fake_venv(tmp_path):
    """A venv whose python prints its arguments: what the Makefile's recipe would run."""
    venv = tmp_path / 'fakevenv'
    (venv / 'bin').mkdir(parents=True)
    (venv / 'bin' / 'python').write_text('#!/bin/sh\necho "python $*"\n')
    (venv / 'bin' / 'python').chmod(0o755)
    (venv / '.installed').touch()
    return venv


@pytest.mark.parametrize('nb, graded', [(None, 'work/01_chain_rule.ipynb work/02_computational_graphs.ipynb'),
                                        ('01', 'work/01_chain_rule.ipynb'),
                                        ('02_computational_graphs', 'work/02_computational_graphs.ipynb'),
                                        ('work/01_chain_rule.ipynb', 'work/01_chain_rule.ipynb'),
                                        ('sub/alice.ipynb', 'sub/alice.ipynb')])
def test_make_grade_takes_the_names_make_fresh_takes(course, tmp_path, nb, graded):
    if shutil.which('make') is None:
        pytest.skip('needs make')
    shutil.copy(ROOT / 'Makefile', course / 'Makefile')
    make_copies(course)
    venv = fake_venv(tmp_path)
    args = ['make', '--no-print-directory', '-o', f'{venv}/.installed', f'VENV={venv}', 'grade']
    r = subprocess.run(args + ([f'NB={nb}'] if nb else []), cwd=course, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split() == ['python', '-m', 'autodiff_lite.grading', 'grade'] + graded.split()
