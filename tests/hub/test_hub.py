"""A class on a real JupyterHub: three students log in at once and work apart.

Real JupyterHub (PyPI) with its proxy (npm configurable-http-proxy), the dummy
authenticator and a local-process spawner on 127.0.0.1; each student's server
starts through binder/start, the hook a real deployment uses. Each student
runs lesson 01 on their own kernel, answers one exercise in their work copy
through the contents API, runs it, and grades it with the course's grader
from their own server. Then: each student's answer and files are in their copy
only, and another student's token cannot open their server.

Runs in `make test-hub` (which `make test` calls); it installs its parts into
.hub/ (see hubkit.py) and skips, saying why, when one cannot be installed.
"""
import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest

for _module in ('requests', 'websocket', 'psutil'):      # JupyterLab's own dependencies bring them
    pytest.importorskip(_module, reason=f'the hub test drives the hub with {_module}, not installed here')
import hubkit  # noqa: E402

pytestmark = pytest.mark.skipif(
    os.environ.get('AUTODIFF_LITE_HUB_TEST') != '1',
    reason='the hub test runs in `make test-hub` (its own .hub/venv); AUTODIFF_LITE_HUB_TEST=1 runs it here')

COURSE = 'autodiff-lite'
NB = '01_chain_rule.ipynb'
# each student answers a different exercise, so every grade table tells whose copy it read
ANSWERS = {'alice': 'ex1-1', 'bob': 'ex1-3', 'carol': 'ex1-4'}

GRADE = '''\
import json, os, subprocess, sys
r = subprocess.run([sys.executable, '-m', 'autodiff_lite.grading', 'grade', 'work/{nb}', '--json', '-'],
                   cwd=os.path.expanduser('~/{course}'), capture_output=True, text=True, timeout=300)
print(json.dumps({{'rc': r.returncode, 'stdout': r.stdout, 'stderr': r.stderr[-3000:]}}))
'''


def solution_answer(cell_id):
    """What a student who got it right types: the text between the solution markers."""
    nb = nbformat.read(hubkit.ROOT / 'solutions' / NB, as_version=4)
    source = next(c.source for c in nb.cells if c.get('id') == cell_id)
    m = re.search(r'### BEGIN SOLUTION\n(.*?)\n\s*### END SOLUTION', source, re.S)
    assert m, f'solutions/{NB} {cell_id}: no solution markers'
    before = source[:m.start()]
    return before + m.group(1) + '\n'


def journey(hub, name, start_together):
    """One student's session: the result of every step, for the tests below to judge."""
    out = {'name': name, 'times': {}}
    t0 = time.monotonic()
    student = hubkit.Student(hub, name)
    start_together.wait()
    student.login()
    out['student'] = student
    out['times']['server ready'] = time.monotonic() - t0

    listing = student.request('GET', f'/api/contents/{COURSE}/work').json()
    out['work'] = sorted(item['name'] for item in listing['content'])

    # lesson 01, every code cell in order, on a kernel started as JupyterLab starts one
    lesson_path = f'{COURSE}/notebooks/{NB}'
    lesson = student.get_notebook(lesson_path)
    kernel = student.kernel(lesson_path)
    out['lesson errors'], out['lesson mimes'] = [], set()
    try:
        for i, cell in enumerate(hubkit.code_cells(lesson)):
            outputs = kernel.execute(cell['source'], allow_error=True)
            errors = [o for o in outputs if o['output_type'] == 'error']
            if errors and not hubkit.expects_error(cell):
                out['lesson errors'].append(f"cell {i}: {errors[0]['ename']}: {errors[0]['evalue']}")
            for o in outputs:
                out['lesson mimes'].update(o.get('data', {}))
        out['lesson cwd'] = hubkit.text_of(kernel.execute('import os; print(os.getcwd())')).strip()
    finally:
        kernel.close()
    out['times']['lesson 01 run'] = time.monotonic() - t0

    # one exercise: the right answer into the work copy, saved through the contents API
    work_path = f'{COURSE}/work/{NB}'
    nb = student.get_notebook(work_path)
    answer_id = ANSWERS[name]
    cell = next(c for c in nb['cells'] if c.get('id') == answer_id)
    cell['source'] = solution_answer(answer_id)
    student.put_notebook(work_path, nb)
    r = student.request('PUT', f'/api/contents/{COURSE}/work/notes-{name}.txt',
                        json={'type': 'file', 'format': 'text', 'content': f'{name} was here\n'})
    r.raise_for_status()

    # run it as the student does: set-up cell, the answer, its visible tests, from the saved copy
    saved = student.get_notebook(work_path)
    cells = {c.get('id'): c for c in saved['cells']}
    kernel = student.kernel(work_path)
    try:
        for cell_id in ('setup', answer_id, f'{answer_id}-tests'):
            kernel.execute(cells[cell_id]['source'])
        out['exercise ran'] = True
        # and grade it, from the student's own server
        printed = hubkit.text_of(kernel.execute(GRADE.format(nb=NB, course=COURSE), timeout=300))
        out['grade'] = json.loads(printed.strip().splitlines()[-1])
    finally:
        kernel.close()
    out['times']['graded'] = time.monotonic() - t0
    return out


@pytest.fixture(scope='module')
def components():
    try:
        return hubkit.ensure_components()
    except hubkit.Unavailable as why:
        pytest.skip(f'hub test skipped: {why}')


@pytest.fixture(scope='module')
def hub(components):
    with hubkit.Hub() as running:
        yield running


@pytest.fixture(scope='module')
def classroom(hub):
    """Three students, logging in at the same moment and working side by side."""
    start_together = threading.Barrier(len(ANSWERS))
    with ThreadPoolExecutor(len(ANSWERS)) as pool:
        futures = {name: pool.submit(journey, hub, name, start_together) for name in ANSWERS}
        results = {}
        for name, fut in futures.items():
            try:
                results[name] = fut.result(timeout=400)
            except Exception as err:
                raise AssertionError(f'{name}: {type(err).__name__}: {err}\n--- hub log ---\n{hub.log_tail()}') from err
    for name, r in results.items():
        print(name, {k: f'{v:.1f} s' for k, v in r['times'].items()})
    return results


def test_each_student_gets_the_course_and_work_copies(classroom, hub):
    exercises = sorted(p.name for p in (hubkit.ROOT / 'exercises').glob('*.ipynb'))
    for name, r in classroom.items():
        assert set(exercises) <= set(r['work']), f"{name}'s work/ holds {r['work']}, not every exercise"
        home = hub.home(name)
        assert (home / COURSE / 'notebooks' / NB).is_file()
        assert (home / COURSE / 'work' / NB).is_file(), f'{name} has no work copy of {NB}'


def test_lesson_01_runs_for_everyone(classroom, hub):
    for name, r in classroom.items():
        assert r['lesson errors'] == [], f'{name}: {r["lesson errors"]}'
        assert 'image/svg+xml' in r['lesson mimes'], f'{name}: lesson 01 drew no graph'
        assert 'image/png' in r['lesson mimes'], f'{name}: lesson 01 drew no plot'
        assert r['lesson cwd'] == str(hub.home(name) / COURSE / 'notebooks')


def test_each_student_grades_their_own_exercise(classroom):
    for name, r in classroom.items():
        assert r['exercise ran']
        g = r['grade']
        assert g['rc'] == 0, f"{name}: the grader exited {g['rc']}: {g['stderr']}"
        report = json.loads(g['stdout'])['notebooks'][0]
        status = {e['id']: e['status'] for e in report['exercises']}
        mine = ANSWERS[name]
        assert status[mine] == 'passed', f'{name}: {mine} is {status[mine]!r}\n{g["stderr"]}'
        for other in ANSWERS.values():
            if other != mine:          # a classmate's answer never shows in this student's grade
                assert status[other] == 'not solved yet', f'{name}: {other} is {status[other]!r}'


def test_one_students_work_never_shows_up_in_anothers(classroom, hub):
    students = {name: r['student'] for name, r in classroom.items()}
    for name, student in students.items():
        nb = student.get_notebook(f'{COURSE}/work/{NB}')
        answered = {c['id'] for c in nb['cells']
                    if 'answer' in c['metadata'].get('tags', []) and 'NotImplementedError' not in c['source']}
        assert answered == {ANSWERS[name]}, f"{name}'s work copy holds answers to {answered}"
        files = {i['name'] for i in student.request('GET', f'/api/contents/{COURSE}/work').json()['content']}
        assert f'notes-{name}.txt' in files
        for other in students:
            if other == name:
                continue
            assert f'notes-{other}.txt' not in files, f"{other}'s file shows in {name}'s work/"
            r = student.request('GET', f'/api/contents/{COURSE}/work/notes-{other}.txt')
            assert r.status_code == 404, f"{name} reads {other}'s file: {r.status_code}"
            # and a classmate's token does not open this student's server
            r = student.request('GET', '/api/contents', token=students[other].token)
            assert r.status_code in (403, 404), \
                f"{other}'s token opened {name}'s server: {r.status_code}"
    homes = {name: hub.home(name) for name in students}
    for name, home in homes.items():
        assert (home / COURSE / 'work' / f'notes-{name}.txt').is_file()
        assert not any((homes[o] / COURSE / 'work' / f'notes-{name}.txt').exists() for o in homes if o != name)


def test_the_teacher_grades_the_class(classroom, hub, tmp_path):
    """As docs/hub.md tells a teacher: the class's notebooks copied to a folder per student
    (names kept), graded in one run against the teacher's solutions."""
    import shutil
    import subprocess
    for name in classroom:
        (tmp_path / name).mkdir()
        shutil.copy(hub.home(name) / COURSE / 'work' / NB, tmp_path / name / NB)
    r = subprocess.run([str(hubkit.PYTHON), '-m', 'autodiff_lite.grading', 'grade',
                        *[str(tmp_path / name / NB) for name in classroom],
                        '--solutions', str(hubkit.ROOT / 'solutions'), '--json', '-'],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    reports = json.loads(r.stdout)['notebooks']
    assert len(reports) == len(classroom)
    for name, report in zip(classroom, reports):
        assert f'/{name}/{NB}' in report['notebook']
        passed = {e['id'] for e in report['exercises'] if e['status'] == 'passed'}
        assert passed == {ANSWERS[name]}, f"{name}'s row: passed {passed}"
    for name in classroom:                          # the table names every student's row
        assert f'{name}/{NB}' in r.stderr
