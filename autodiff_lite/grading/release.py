"""`python -m autodiff_lite.grading release DIR`: the course as a graded class receives it.

Lessons, exercises, the package, the student docs; no `solutions/`, no hidden
tests, no teachers' docs (the README's section for teachers goes with them, and
a link left to one of them becomes plain text), no grader tests (their fixtures
hold answers). In
their place `selfcheck/` holds, per lesson, the teacher's notebook with every
answer stubbed and the hidden tests removed: there `make grade` runs the visible
tests as a self-check, and says that the grade comes from the teacher.
"""
import json
import re
import shutil
from pathlib import Path

from .build import BEGIN_HIDDEN, BEGIN_SOLUTION, END_SOLUTION, FormatError, read_exercises, strip_hidden
from .submission import load_teacher

__all__ = ['release', 'SELFCHECK']

SELFCHECK = 'selfcheck'
COPY = ['README.md', 'Makefile', 'requirements.txt', 'requirements-dev.txt', 'pyproject.toml', '.gitignore',
        'LICENSE', 'notebooks', 'exercises', 'autodiff_lite', 'docs']
TEACHERS_ONLY = {'docs/grading.md', 'docs/teachers.md', 'docs/exports.md', 'docs/hub.md'}
TEACHERS_SECTION = '## For teachers and contributors'
_LINK = re.compile(r'(!?)\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')


def _ignore(folder, names):
    return [n for n in names if n == '__pycache__' or n.endswith('.pyc') or n.endswith('.egg-info')]


def _without_teachers(text, folder, dest):
    """Markdown `text` (a file in `folder` of the release `dest`) with the README's section for
    teachers gone, and every relative link to a file the release does not have made plain text."""
    start = text.find(TEACHERS_SECTION)
    if start >= 0:
        end = text.find('\n## ', start + len(TEACHERS_SECTION))
        license_at = text.find('\nLicense:', start)
        end = min(e for e in (end, license_at, len(text)) if e >= 0)
        text = text[:start] + text[end:].lstrip('\n')

    def unlink(m):
        target = m.group(3).split('#', 1)[0]
        if m.group(1) or not target or re.match(r'^[a-z][a-z0-9+.-]*:', target, re.I):
            return m.group(0)                 # an image, an anchor in the page, a web address
        return m.group(0) if (folder / target).resolve().is_relative_to(dest.resolve()) \
            and (folder / target).exists() else m.group(2)
    return _LINK.sub(unlink, text)


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
    for md in [dest / 'README.md', *sorted((dest / 'docs').glob('*.md'))]:
        if md.is_file():
            md.write_text(_without_teachers(md.read_text(encoding='utf-8'), md.parent, dest), encoding='utf-8')
    out = dest / SELFCHECK
    out.mkdir()
    (out / '.selfcheck').write_text('visible tests only: the grade comes from the teacher\n')
    for nb in sorted((repo / 'solutions').glob('*.ipynb')):
        (out / nb.name).write_text(json.dumps(selfcheck_notebook(nb), indent=1, ensure_ascii=False) + '\n')
    leaks = [p for p in dest.rglob('*.ipynb') if BEGIN_HIDDEN in p.read_text(errors='replace')]
    if leaks:
        raise FormatError(f'hidden tests would leak into the release: {leaks[0]}')
    return sorted(p for p in dest.rglob('*') if p.is_file())
