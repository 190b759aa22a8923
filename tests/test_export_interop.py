"""The exports through the real tools: nbgrader and Otter-Grader from PyPI.

They run from a venv of their own, .venv-interop (requirements-interop.txt), made here
when missing or out of date (`make interop-venv` makes it too), so their dependencies
never change the course's; with no registry to install them from, these tests skip and
say why. The graded kernels import autodiff_lite from the wheel that each export carries,
installed with `pip install --no-index`: for Otter, the one inside the autograder zip.

For every lesson: the solutions get full marks, the untouched student version 0; lesson
01 with one typical mistake (Exercise 1.1 divides by h, not 2h) loses that exercise's
points, and the checker's hint reaches the tool's feedback. Scores come from the tools'
own reports: nbgrader's gradebook (via `nbgrader export`), Otter's results.json.
"""
import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import nbformat
import pytest

from autodiff_lite.grading.build import read_exercises

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / 'solutions'
VENV = Path(os.environ.get('INTEROP_VENV') or ROOT / '.venv-interop')      # INTEROP_VENV: elsewhere
REQUIREMENTS = ROOT / 'requirements-interop.txt'
STAMP = VENV / '.installed'
PY = VENV / 'bin' / 'python'
MISTAKE = ('ex1-1', '/ (2 * h)', '/ h')                 # in 01_chain_rule: divide by h, not 2h
HINT = 'expected 14, got 28. Hint: divide by 2h, not h'

pytestmark = pytest.mark.slow


def _lessons():
    found = []
    for path in sorted(SOLUTIONS.glob('*.ipynb')):
        nb = nbformat.read(str(path), as_version=4)
        exercises = read_exercises(nb, str(path))
        if exercises:
            found.append((path.stem, nb, exercises))
    return found


LESSONS = _lessons()
TOTAL = {lesson: sum(e.points for e in exercises) for lesson, _, exercises in LESSONS}


def _run(cmd, cwd, env, timeout=600):
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f'{cmd} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}'
    return done


@pytest.fixture(scope='module')
def tools():
    """The interop venv's python, made from requirements-interop.txt when missing or stale."""
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == want and PY.exists():
        return PY
    steps = [[sys.executable, '-m', 'venv', '--clear', str(VENV)],
             [str(PY), '-m', 'pip', 'install', '-q', '-r', str(REQUIREMENTS)]]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            pytest.skip(f'cannot install nbgrader and otter-grader ({REQUIREMENTS.name}): '
                        f'{" ".join(step[:4])} timed out (no package registry?)')
        if done.returncode:
            why = [l for l in done.stderr.splitlines() if 'ignored' not in l][-3:]
            pytest.skip(f'cannot install nbgrader and otter-grader ({REQUIREMENTS.name}) into '
                        f'{VENV.name}: {" / ".join(why)}')
    STAMP.write_text(want + '\n')
    return PY


def _env(tmp, site):
    """The tools' environment: their venv first on PATH (nbgrader calls `alembic`), our
    package from `site` only, Jupyter's folders in tmp (no user config gets in)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('JUPYTER', 'PYTHON', 'VIRTUAL_ENV'))}
    env.update(PATH=f'{VENV / "bin"}{os.pathsep}{env.get("PATH", "/usr/bin:/bin")}',
               PYTHONPATH=str(site), JUPYTER_CONFIG_DIR=str(tmp / 'jupyter-config'),
               JUPYTER_DATA_DIR=str(tmp / 'jupyter-data'), JUPYTER_RUNTIME_DIR=str(tmp / 'jupyter-rt'),
               JUPYTER_PLATFORM_DIRS='1', PYDEVD_DISABLE_FILE_VALIDATION='1')
    return env


def _install_wheel(tools, wheel, site, env):
    """pip install --no-index: the package comes from this wheel and nowhere else."""
    _run([tools, '-m', 'pip', 'install', '-q', '--no-index', '--no-deps', '--target', site, wheel],
         cwd=site.parent, env=env)
    assert (site / 'autodiff_lite' / '__init__.py').exists()


def _export(to, out):
    _run([sys.executable, '-m', 'autodiff_lite.grading', 'export', '--to', to, out], cwd=ROOT,
         env={**os.environ})


def _answer(nb, exercises, fill):
    """Notebook `nb` with each answer cell's source set by fill(answer id) (None: left alone)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    ids = {e.answer_id for e in exercises}
    for cell in nb.cells:
        if cell.get('id') in ids and fill(cell.id) is not None:
            cell.source = fill(cell.id)
    return nb


def _with_mistake(solution_source, cid):
    if cid != MISTAKE[0]:
        return solution_source
    assert MISTAKE[1] in solution_source, (
        f'the typical mistake of this test no longer applies to {MISTAKE[0]}: update MISTAKE')
    return solution_source.replace(MISTAKE[1], MISTAKE[2])


def _submissions(lesson, nb, exercises, student_nb):
    """{student: notebook}: the solutions' answers, the untouched copy, and (lesson 01) one mistake."""
    solution = {c.id: c.source for c in nb.cells}
    subs = {'full': _answer(student_nb, exercises, solution.get),
            'blank': student_nb}
    if lesson == '01_chain_rule':
        subs['mistake'] = _answer(student_nb, exercises, lambda cid: _with_mistake(solution[cid], cid))
    return subs


def _expected(lesson, exercises, student):
    if student == 'full':
        return TOTAL[lesson]
    if student == 'blank':
        return 0
    return TOTAL[lesson] - next(e.points for e in exercises if e.answer_id == MISTAKE[0])


@pytest.fixture(scope='module')
def otter(tools, tmp_path_factory):
    """Otter's whole run, in a thread that starts before the nbgrader test: the two tools
    run side by side (on a busy shared machine two processes get twice one's share).
    Returns a function that waits for it: (its folder, {(student, lesson): expected score})."""
    tmp = tmp_path_factory.mktemp('otter')
    box = {}

    def work():
        try:
            box['result'] = _otter_pipeline(tools, tmp)
        except BaseException as err:          # re-raised in the Otter test
            box['error'] = err

    thread = threading.Thread(target=work, name='otter')
    thread.start()

    def wait():
        thread.join()
        if 'error' in box:
            raise box['error']
        return box['result']
    yield wait
    thread.join()


def test_nbgrader_generates_and_autogrades_every_lesson(tools, otter, tmp_path):
    course = tmp_path / 'course'
    _export('nbgrader', course)
    site = tmp_path / 'site'
    env = _env(tmp_path, site)
    _install_wheel(tools, next(course.glob('autodiff_lite-*.whl')), site, env)
    nbgrader = VENV / 'bin' / 'nbgrader'
    _run([nbgrader, 'generate_assignment', '*'], cwd=course, env=env)
    expected = {}
    for lesson, nb, exercises in LESSONS:
        released = nbformat.read(str(course / 'release' / lesson / f'{lesson}.ipynb'), as_version=4)
        # nbgrader's student copy: answers stubbed, hidden tests gone, ids kept
        assert [c.id for c in released.cells] == [c.id for c in nb.cells]
        assert not any('### BEGIN HIDDEN TESTS' in c.source for c in released.cells)
        for student, sub in _submissions(lesson, nb, exercises, released).items():
            folder = course / 'submitted' / student / lesson
            folder.mkdir(parents=True)
            nbformat.write(sub, str(folder / f'{lesson}.ipynb'))
            expected[lesson, student] = _expected(lesson, exercises, student)
    _run([nbgrader, 'autograde', '*'], cwd=course, env=env)
    _run([nbgrader, 'export', '--to', tmp_path / 'grades.csv'], cwd=course, env=env)
    with open(tmp_path / 'grades.csv') as f:
        got = {(row['assignment'], row['student_id']): (float(row['score']), float(row['max_score']))
               for row in csv.DictReader(f) if (row['assignment'], row['student_id']) in expected}
    assert got == {key: (score, TOTAL[key[0]]) for key, score in expected.items()}
    # the checker's hint, in the feedback nbgrader gives the student
    _run([nbgrader, 'generate_feedback', '01_chain_rule', '--student', 'mistake'], cwd=course, env=env)
    html = (course / 'feedback' / 'mistake' / '01_chain_rule' / '01_chain_rule.html').read_text()
    assert HINT in html


def _otter_pipeline(tools, tmp_path):
    """otter assign on every lesson, then otter run on lesson 01's submissions."""
    masters = tmp_path / 'masters'
    _export('otter', masters)
    dist = tmp_path / 'dist'
    # the `otter` command's own entry point, called once per step in one process (each
    # new process would pay its ~3 s start-up); arguments as on the command line
    driver = ('import json, sys\nfrom otter.cli import cli\n'
              'for args in json.loads(sys.argv[1]):\n'
              '    print("otter", *args, flush=True)\n'
              '    cli.main(args=args, standalone_mode=False)\n')
    # without --no-run-tests: otter assign grades each lesson's solutions with its
    # autograder (as `otter run` does) and fails unless they get full marks
    # (the package from the export's wheel: the grading kernels import it)
    assign = [['assign', str(masters / f'{lesson}.ipynb'), str(dist / lesson)] for lesson, _, _ in LESSONS]
    env = _env(tmp_path, tmp_path / 'site')
    _install_wheel(tools, next(masters.glob('autodiff_lite-*.whl')), tmp_path / 'site', env)
    _run([tools, '-c', driver, json.dumps(assign)], cwd=tmp_path, env=env)

    # the autograder zip carries the wheel and installs it from there, with no index;
    # `otter run` below grades with the package installed from the zip's wheel only
    zips = {lesson: next((dist / lesson / 'autograder').glob('*.zip')) for lesson, _, _ in LESSONS}
    with zipfile.ZipFile(zips['01_chain_rule']) as zf:
        environment = zf.read('environment.yml').decode()      # the pip section names the wheel
        wheels = re.findall(r'^\s*-\s*(\S+\.whl)\s*$', environment, re.M)
        assert len(wheels) == 1 and wheels[0].startswith('/autograder/source/files/'), environment
        unpacked = tmp_path / 'autograder' / 'source'          # as Gradescope unpacks it
        zf.extractall(unpacked)
    env = _env(tmp_path, tmp_path / 'site-zip')
    _install_wheel(tools, unpacked / wheels[0][len('/autograder/source/'):], tmp_path / 'site-zip', env)

    runs, expected = [], {}
    for lesson, nb, exercises in LESSONS:
        if lesson != '01_chain_rule':       # every lesson's solutions: graded by otter assign above
            continue
        student = nbformat.read(str(dist / lesson / 'student' / f'{lesson}.ipynb'), as_version=4)
        code = '\n'.join(c.source for c in student.cells)
        assert '# BEGIN SOLUTION' not in code and 'BEGIN HIDDEN' not in code
        for who, sub in _submissions(lesson, nb, exercises, student).items():
            path = tmp_path / 'subs' / who / f'{lesson}.ipynb'
            out = tmp_path / 'results' / who / lesson
            path.parent.mkdir(parents=True, exist_ok=True)
            out.mkdir(parents=True)
            nbformat.write(sub, str(path))
            runs.append(['run', '-a', str(zips[lesson]), '-o', str(out), str(path)])
            expected[who, lesson] = _expected(lesson, exercises, who)
    _run([tools, '-c', driver, json.dumps(runs)], cwd=tmp_path, env=env, timeout=900)
    return tmp_path, expected


def test_otter_assigns_every_lesson_and_grades_with_otter_run(otter):
    tmp_path, expected = otter()
    for (who, lesson), score in expected.items():
        results = json.loads((tmp_path / 'results' / who / lesson / 'results.json').read_text())
        per_question = [t for t in results['tests'] if 'score' in t]
        got = (sum(t['score'] for t in per_question), sum(t['max_score'] for t in per_question))
        assert got == (score, TOTAL[lesson]), (who, lesson, [(t['name'], t['score']) for t in per_question])
    results = json.loads((tmp_path / 'results' / 'mistake' / '01_chain_rule' / 'results.json').read_text())
    failed = [t for t in results['tests'] if t.get('score') == 0]
    assert [t['name'] for t in failed] == [MISTAKE[0]]
    assert any(HINT in t.get('output', '') for t in results['tests'])
