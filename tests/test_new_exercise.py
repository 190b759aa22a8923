"""`new-exercise`: a teacher adds an exercise without scripting, and the counts in texts follow."""
import shutil
from pathlib import Path

import nbformat
import pytest

from autodiff_lite.grading.__main__ import main
from autodiff_lite.grading.build import build, check, read_exercises
from autodiff_lite.grading.grader import grade
from autodiff_lite.grading.new_exercise import lesson_notebook, stated_counts

ROOT = Path(__file__).resolve().parents[1]
NB = '01_chain_rule.ipynb'


@pytest.fixture
def course(tmp_path):
    """A copy of lesson 01's solutions, lesson and exercises notebooks."""
    for folder in ('solutions', 'notebooks', 'exercises'):
        (tmp_path / folder).mkdir()
        shutil.copy(ROOT / folder / NB, tmp_path / folder / NB)
    return tmp_path


def _ids(path):
    return [c.id for c in nbformat.read(str(path), as_version=4).cells]


def test_new_exercise_writes_three_cells_after_the_last_one(course, capsys):
    sol = course / 'solutions' / NB
    before = nbformat.read(str(sol), as_version=4)
    n = len(read_exercises(before))
    k = f'1.{n + 1}'
    assert main(['new-exercise', str(sol), k, '--points', '3', '--title', 'a second derivative']) == 0
    assert f'added Exercise {k} (3 points)' in capsys.readouterr().out
    nb = nbformat.read(str(sol), as_version=4)
    ids = [c.id for c in nb.cells]
    last = read_exercises(before)[-1].tests_id
    at = ids.index(last) + 1
    assert ids[at:at + 3] == [f'ex1-{n + 1}-task', f'ex1-{n + 1}', f'ex1-{n + 1}-tests']
    assert ids[:at] + ids[at + 3:] == [c.id for c in before.cells]          # nothing else moved
    task, answer, tests = nb.cells[at:at + 3]
    assert task.source.startswith(f'## Exercise {k}: a second derivative (3 points)\n')
    assert answer.metadata['tags'] == ['answer'] and tests.metadata['tags'] == ['tests']
    assert tests.metadata['points'] == 3
    new = read_exercises(nb)[-1]
    assert (new.number, new.answer_id, new.points) == (k, f'ex1-{n + 1}', 3)
    # the texts that state the count follow, in the solutions notebook and in the lesson
    for path in (sol, course / 'notebooks' / NB):
        counts = [c for cell in nbformat.read(str(path), as_version=4).cells
                  if cell.cell_type == 'markdown' for c in stated_counts(cell.source)]
        assert counts and all(c[1] == n + 1 for c in counts), (path, counts)
    # the rest of the other cells is byte for byte what it was (a small diff in git)
    old = (ROOT / 'solutions' / NB).read_text().splitlines()
    new_lines = sol.read_text().splitlines()
    assert len(set(new_lines) - set(old)) < 60


def test_the_placeholder_passes_its_tests_and_the_stub_scores_zero(course):
    sol = course / 'solutions' / NB
    n = len(read_exercises(nbformat.read(str(sol), as_version=4)))
    assert main(['new-exercise', str(sol), f'1.{n + 1}', '--points', '2']) == 0
    assert check(course / 'solutions', course / 'exercises')       # exercises/ now drifts ...
    written, refused = build(course / 'solutions', course / 'exercises')
    assert written and not refused and not check(course / 'solutions', course / 'exercises')  # ... until built
    full, blank = grade([sol, course / 'exercises' / NB], course / 'solutions', jobs=2)
    assert [e['status'] for e in full['exercises']] == ['passed'] * (n + 1)
    assert blank['exercises'][-1]['status'] == 'not solved yet'
    assert f'Exercise 1.{n + 1}' in blank['exercises'][-1]['message']


def test_new_exercise_refuses_bad_input_and_says_what_to_do(course, capsys):
    sol = course / 'solutions' / NB
    n = len(read_exercises(nbformat.read(str(sol), as_version=4)))
    before = sol.read_bytes()
    cases = [(['1.1', '--points', '2'], f'the next free number is 1.{n + 1}'),
             (['2.9', '--points', '2'], 'belongs to lesson 02'),
             (['1-6', '--points', '2'], 'write it N.k'),
             ([f'1.{n + 1}', '--points', '0'], '--points must be a positive number'),
             ([f'1.{n + 1}', '--points', '2', '--title', ' '], '--title must be one line')]
    for args, message in cases:
        assert main(['new-exercise', str(sol)] + args) == 2
        assert message in capsys.readouterr().err, args
    assert sol.read_bytes() == before
    assert main(['new-exercise', str(course / 'solutions' / 'nope.ipynb'), '1.1', '--points', '1']) == 2
    assert 'not found' in capsys.readouterr().err


def test_stated_exercise_counts_match_the_exercises():
    """A text that says how many exercises a lesson has says the real number."""
    for sol in sorted((ROOT / 'solutions').glob('*.ipynb')):
        n = len(read_exercises(nbformat.read(str(sol), as_version=4), str(sol)))
        for path in filter(None, (sol, lesson_notebook(sol))):
            for cell in nbformat.read(str(path), as_version=4).cells:
                if cell.cell_type == 'markdown':
                    for words, count in stated_counts(cell.source):
                        assert count == n, (
                            f"{path.relative_to(ROOT)}, cell {cell.get('id')!r} says {words!r}, and "
                            f'{sol.relative_to(ROOT)} has {n} exercises: fix the text (new-exercise '
                            'updates it when it adds one)')
