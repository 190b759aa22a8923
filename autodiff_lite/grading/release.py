"""`python -m autodiff_lite.grading release DIR`: the course as a graded class receives it.

Lessons, exercises, the package, the student docs; no `solutions/`, no hidden
tests, no teacher's guide, no grader tests (their fixtures hold answers). In
their place `selfcheck/` holds, per lesson, the teacher's notebook with every
answer stubbed and the hidden tests removed: there `make grade` runs the visible
tests as a self-check, and says that the grade comes from the teacher.
"""
import json
import shutil
from pathlib import Path

from .build import BEGIN_HIDDEN, BEGIN_SOLUTION, END_SOLUTION, FormatError, read_exercises, strip_hidden
from .submission import load_teacher

__all__ = ['release', 'SELFCHECK']

SELFCHECK = 'selfcheck'
COPY = ['README.md', 'Makefile', 'requirements.txt', 'requirements-dev.txt', 'pyproject.toml', '.gitignore',
        'LICENSE', 'notebooks', 'exercises', 'autodiff_lite', 'docs']
TEACHERS_ONLY = {'docs/grading.md'}


def _ignore(folder, names):
    return [n for n in names if n == '__pycache__' or n.endswith('.pyc') or n.endswith('.egg-info')]


def _stub(source, todo):
    """The answer with its solution replaced by the stub, the markers kept (the grader reads them)."""
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == BEGIN_SOLUTION)
    end = next(i for i, line in enumerate(lines) if line.strip() == END_SOLUTION)
    indent = lines[start][:len(lines[start]) - len(lines[start].lstrip())]
    stub = f'{indent}raise NotImplementedError({json.dumps(todo, ensure_ascii=False)})'
    return '\n'.join(lines[:start + 1] + [stub] + lines[end:])


def selfcheck_notebook(path):
    """The teacher's notebook at `path` without answers and hidden tests (a dict, nbformat 4)."""
    raw = json.loads(Path(path).read_text())
    exercises = {e.answer_id: e for e in read_exercises(load_teacher(path), str(path))}
    tests = {e.tests_id for e in exercises.values()}
    for cell in raw['cells']:
        src = ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']
        if cell.get('id') in exercises:
            src = _stub(src, exercises[cell['id']].todo)
        elif cell.get('id') in tests:
            src = strip_hidden(src)
        cell['source'] = src
        if cell['cell_type'] == 'code':
            cell['outputs'], cell['execution_count'] = [], None
    raw['metadata'].pop('widgets', None)
    return raw


def release(dest, repo):
    """Write the class's copy of the course into `dest` (new or empty); returns the files written."""
    dest, repo = Path(dest), Path(repo)
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f'{dest} is not empty: release writes into a new folder')
    if dest.resolve() == repo.resolve() or repo.resolve() in dest.resolve().parents and \
            dest.resolve().relative_to(repo.resolve()).parts[0] in COPY:
        raise FileExistsError(f'{dest} is inside a folder release copies: pick a folder outside them')
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPY:
        src = repo / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=_ignore)
        elif src.is_file():
            shutil.copy2(src, dest / name)
    for rel in TEACHERS_ONLY:
        (dest / rel).unlink(missing_ok=True)
    out = dest / SELFCHECK
    out.mkdir()
    (out / '.selfcheck').write_text('visible tests only: the grade comes from the teacher\n')
    for nb in sorted((repo / 'solutions').glob('*.ipynb')):
        (out / nb.name).write_text(json.dumps(selfcheck_notebook(nb), indent=1, ensure_ascii=False) + '\n')
    leaks = [p for p in dest.rglob('*.ipynb') if BEGIN_HIDDEN in p.read_text(errors='replace')]
    if leaks:
        raise FormatError(f'hidden tests would leak into the release: {leaks[0]}')
    return sorted(p for p in dest.rglob('*') if p.is_file())
