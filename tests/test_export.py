"""Exports to nbgrader and Otter-Assign: what the files hold, determinism, bad input.

The real tools run on these exports in test_export_interop.py.
"""
import ast
import base64
import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autodiff_lite.grading.__main__ import main
from autodiff_lite.grading.build import FormatError, read_exercises, strip_hidden
from autodiff_lite.grading.export import export, wheel_name

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / 'solutions'
LESSONS = sorted(p for p in SOLUTIONS.glob('*.ipynb')
                 if read_exercises(nbformat.read(str(p), as_version=4), str(p)))


def tree(folder):
    """{relative path: bytes} of every file under folder."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(Path(folder).rglob('*'))
            if p.is_file()}


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp('export')
    export('nbgrader', out / 'nbgrader', SOLUTIONS)
    export('otter', out / 'otter', SOLUTIONS)
    return out


def test_exporting_twice_gives_identical_files(exported, tmp_path):
    for to in ('nbgrader', 'otter'):
        export(to, tmp_path / to, SOLUTIONS)
        assert tree(tmp_path / to) == tree(exported / to), to


def test_nbgrader_layout_one_assignment_per_lesson(exported):
    files = set(tree(exported / 'nbgrader'))
    expected = {f'source/{p.stem}/{p.name}' for p in LESSONS} | {'nbgrader_config.py', wheel_name()}
    assert files == expected


@pytest.mark.parametrize('lesson', LESSONS, ids=lambda p: p.stem)
def test_nbgrader_cells_keep_ids_points_and_hidden_tests(exported, lesson):
    src = nbformat.read(str(lesson), as_version=4)
    out = nbformat.read(str(exported / 'nbgrader' / 'source' / lesson.stem / lesson.name), as_version=4)
    assert [c.id for c in out.cells] == [c.id for c in src.cells]
    assert out.metadata['kernelspec']['name'] == 'python3'
    by_id = {c.id: c for c in src.cells}
    for e in read_exercises(src, str(lesson)):
        answer = next(c for c in out.cells if c.id == e.answer_id)
        tests = next(c for c in out.cells if c.id == e.tests_id)
        assert answer.metadata['nbgrader'] == {'grade': False, 'grade_id': e.answer_id, 'locked': False,
                                               'schema_version': 3, 'solution': True, 'task': False}
        assert tests.metadata['nbgrader'] == {'grade': True, 'grade_id': e.tests_id, 'locked': True,
                                              'points': e.points, 'schema_version': 3, 'solution': False,
                                              'task': False}
        # the sources as written in solutions/: nbgrader's markers are ours
        assert answer.source == by_id[e.answer_id].source
        assert tests.source == by_id[e.tests_id].source
    for cell in out.cells:
        assert cell.get('outputs', []) == [] and cell.get('execution_count') is None
        assert 'execution' not in cell.metadata
        if cell.cell_type != 'code' or 'answer' not in cell.metadata.get('tags', []):
            assert cell.metadata['nbgrader']['locked'], cell.id


def _otter_cells(path):
    return nbformat.read(str(path), as_version=4).cells


@pytest.mark.parametrize('lesson', LESSONS, ids=lambda p: p.stem)
def test_otter_master_has_one_question_per_exercise(exported, lesson):
    src = nbformat.read(str(lesson), as_version=4)
    cells = _otter_cells(exported / 'otter' / lesson.name)
    config = cells[0]
    assert config.cell_type == 'raw' and config.source.startswith('# ASSIGNMENT CONFIG\n')
    assert f'name: {lesson.stem}' in config.source and f'  - {wheel_name()}' in config.source
    raws = [c.source.splitlines()[0] for c in cells if c.cell_type == 'raw'][1:]
    exercises = read_exercises(src, str(lesson))
    assert raws == ['# BEGIN QUESTION', '# BEGIN SOLUTION', '# END SOLUTION', '# BEGIN TESTS',
                    '# END TESTS', '# END QUESTION'] * len(exercises)
    by_id = {c.id: c for c in cells}
    source = {c.id: c.source for c in src.cells}
    for e in exercises:
        question = by_id[f'{e.answer_id}-question'].source.splitlines()
        assert question == ['# BEGIN QUESTION', f'name: {e.answer_id}', f'points: {e.points:g}',
                            'all_or_nothing: true']
        answer = by_id[e.answer_id].source
        assert '### BEGIN SOLUTION' not in answer and '# BEGIN SOLUTION NO PROMPT' in answer
        assert f'raise NotImplementedError("{e.todo}")' in answer      # the student's stub, as ours
        ast.parse(answer)
        visible = by_id[e.tests_id].source
        assert visible.startswith('""" # BEGIN TEST CONFIG\nhidden: false\n')
        assert 'success_message' in visible and 'failure_message' in visible
        assert _exec_source(visible) == strip_hidden(source[e.tests_id]) + '\n'
        hidden = by_id.get(f'{e.tests_id}-hidden')
        if '### BEGIN HIDDEN TESTS' in source[e.tests_id]:
            assert hidden.source.startswith('""" # BEGIN TEST CONFIG\nhidden: true\n')
            whole = _exec_source(hidden.source)
            # the whole cell: the visible part's helpers come along
            assert whole.startswith(strip_hidden(source[e.tests_id]).split('\n')[0])
            assert '### BEGIN HIDDEN TESTS' not in whole and len(whole) > len(_exec_source(visible))
        else:
            assert hidden is None


def _exec_source(cell_source):
    """The test source that an exported Otter test case runs."""
    call = ast.parse(cell_source).body[-1].value
    assert ast.unparse(call.func) == 'exec'
    return ast.literal_eval(call.args[0].args[0])


def test_otter_requirements_point_at_the_bundled_wheel(exported):
    lines = [l for l in (exported / 'otter' / 'requirements.txt').read_text().splitlines()
             if l and not l.startswith('#')]
    assert lines == [f'/autograder/source/files/{wheel_name()}']
    assert set(tree(exported / 'otter')) == {p.name for p in LESSONS} | {'requirements.txt', wheel_name()}


def test_wheel_is_reproducible_complete_and_importable(exported, tmp_path):
    wheel = exported / 'otter' / wheel_name()
    assert wheel.read_bytes() == (exported / 'nbgrader' / wheel_name()).read_bytes()
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        package = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / 'autodiff_lite').rglob('*.py')
                         if '__pycache__' not in p.parts)
        assert sorted(n for n in names if n.endswith('.py')) == package
        record = zf.read(next(n for n in names if n.endswith('.dist-info/RECORD'))).decode()
        for line in record.splitlines():
            name, digest, size = line.rsplit(',', 2)
            if digest:
                data = zf.read(name)
                assert digest == 'sha256=' + base64.urlsafe_b64encode(
                    hashlib.sha256(data).digest()).rstrip(b'=').decode() and int(size) == len(data)
        meta = zf.read(next(n for n in names if n.endswith('.dist-info/METADATA'))).decode()
        assert 'Name: autodiff-lite' in meta and 'Requires-Dist: numpy>=1.24' in meta
    # a pure-Python wheel imports straight from the zip: it holds a working package
    code = ('import autodiff_lite as a; from autodiff_lite.grading import check_close; '
            'x = a.Value(3.0); (x * x).backward(); check_close(x.grad, 6.0); print(a.__file__)')
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path,
                          env={'PYTHONPATH': str(wheel), 'PATH': '/usr/bin:/bin'})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(str(wheel))


def test_cli_export_writes_and_tells_the_next_step(tmp_path, capsys):
    assert main(['export', '--to', 'otter', str(tmp_path / 'o')]) == 0
    out = capsys.readouterr().out
    assert 'wrote' in out and 'otter assign' in out
    assert main(['export', '--to', 'nbgrader', str(tmp_path / 'n')]) == 0
    assert 'nbgrader generate_assignment' in capsys.readouterr().out


def test_cli_export_bad_input_names_the_problem(tmp_path, capsys):
    with pytest.raises(SystemExit):                         # argparse: an unknown target
        main(['export', '--to', 'moodle', str(tmp_path / 'x')])
    assert "invalid choice: 'moodle'" in capsys.readouterr().err
    assert main(['export', '--to', 'otter', str(tmp_path / 'x'), '--solutions', str(tmp_path / 'nope')]) == 2
    assert 'is not a folder' in capsys.readouterr().err
    (tmp_path / 'empty').mkdir()
    assert main(['export', '--to', 'otter', str(tmp_path / 'x'), '--solutions', str(tmp_path / 'empty')]) == 2
    assert 'has no notebooks' in capsys.readouterr().err
    (tmp_path / 'file').write_text('')
    assert main(['export', '--to', 'nbgrader', str(tmp_path / 'file')]) == 2
    assert 'is not a folder: choose another DIR' in capsys.readouterr().err
    assert main(['export', '--to', 'nbgrader', str(SOLUTIONS / 'out')]) == 2
    assert 'inside' in capsys.readouterr().err and not (SOLUTIONS / 'out').exists()


def test_a_malformed_solutions_notebook_is_named(tmp_path, capsys):
    sols = tmp_path / 'solutions'
    sols.mkdir()
    shutil.copy(LESSONS[0], sols / LESSONS[0].name)
    nb = nbformat.read(str(sols / LESSONS[0].name), as_version=4)
    tests = next(c for c in nb.cells if 'tests' in c.metadata.get('tags', []))
    tests.source = tests.source.replace('### END HIDDEN TESTS', '')
    nbformat.write(nb, str(sols / LESSONS[0].name))
    assert main(['export', '--to', 'otter', str(tmp_path / 'x'), '--solutions', str(sols)]) == 2
    err = capsys.readouterr().err
    assert f"cell '{tests.id}'" in err and 'is never closed' in err


def test_otter_needs_task_answer_tests_in_order(tmp_path):
    sols = tmp_path / 'solutions'
    sols.mkdir()
    nb = nbformat.read(str(LESSONS[0]), as_version=4)
    e = read_exercises(nb, 'x')[0]
    ids = [c.id for c in nb.cells]
    i, j = ids.index(e.answer_id), ids.index(e.tests_id)
    nb.cells[i], nb.cells[j] = nb.cells[j], nb.cells[i]
    nbformat.write(nb, str(sols / LESSONS[0].name))
    export('nbgrader', tmp_path / 'n', sols)        # nbgrader does not care about the order
    with pytest.raises(FormatError, match=f'exercise {e.number}: its cells must come in the order task'):
        export('otter', tmp_path / 'o', sols)


def test_an_edited_nbgrader_config_is_kept(tmp_path):
    export('nbgrader', tmp_path, SOLUTIONS)
    config = tmp_path / 'nbgrader_config.py'
    config.write_text('c = get_config()\nc.CourseDirectory.course_id = "mine"\n')
    export('nbgrader', tmp_path, SOLUTIONS)
    assert 'mine' in config.read_text()


@pytest.mark.parametrize('text', ["a = '''x'''", 'b = "\\n"', "c = 'end'", 'd = r"\\d+"  # ', "''''''", 'é ²'])
def test_any_test_source_survives_the_otter_test_case(text):
    from autodiff_lite.grading.export import _py_string
    assert ast.literal_eval(_py_string(text)) == text + '\n'
