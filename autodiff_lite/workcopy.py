"""The student's own copies of the exercise notebooks, in work/ (ignored by git).

    python -m autodiff_lite.workcopy                     # copy each exercises/*.ipynb to work/, the first time
    python -m autodiff_lite.workcopy --fresh 01          # start work/01_chain_rule.ipynb afresh

`exercises/` is generated and tracked: a course update (`git pull`, `make
exercises`) rewrites it. A student's answers therefore live in `work/`, which
git ignores and nothing here ever overwrites: a notebook is copied only when
`work/` has none of that name. The first copy takes the exercises notebook as
it is, so answers typed into `exercises/` before work copies existed come
along. `--fresh NB` moves `work/NB` aside to `work/previous/` (with the time in
its name) and copies a clean one from `exercises/`.

`make lab` runs the first form before it starts JupyterLab, `make fresh NB=01`
the second. NB may be given as `01`, `01_chain_rule`, `01_chain_rule.ipynb`,
`work/01_chain_rule.ipynb` or `exercises/01_chain_rule.ipynb`.
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

WORK = 'work'
EXERCISES = 'exercises'
PREVIOUS = 'previous'


class WorkCopyError(Exception):
    """A problem the student can fix; the message says how."""


def course_root(start=None):
    """The folder holding exercises/: the working directory (where `make` runs), else the
    source checkout this package sits in."""
    for candidate in (Path(start or Path.cwd()), Path(__file__).resolve().parent.parent):
        if (candidate / EXERCISES).is_dir():
            return candidate
    raise WorkCopyError(f'no {EXERCISES}/ folder here ({Path(start or Path.cwd())}) or next to the '
                        'package: run this from the course folder (where the Makefile is)')


def has_answers(path):
    """True when an answer cell of the notebook no longer holds its `raise NotImplementedError` stub."""
    try:
        nb = json.loads(Path(path).read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return False
    for cell in nb.get('cells', []):
        if 'answer' in cell.get('metadata', {}).get('tags', []):
            source = cell.get('source', '')
            source = ''.join(source) if isinstance(source, list) else source
            if 'raise NotImplementedError' not in source:
                return True
    return False


def make_copies(root=None):
    """Copy every exercises notebook that work/ lacks; returns [(work path, note)] for the new ones."""
    root = course_root(root)
    sources = sorted((root / EXERCISES).glob('*.ipynb'))
    if not sources:
        raise WorkCopyError(f'{root / EXERCISES}/ holds no notebooks: run `make exercises` to generate them')
    (root / WORK).mkdir(exist_ok=True)
    made = []
    for src in sources:
        dst = root / WORK / src.name
        if dst.exists():
            continue
        shutil.copyfile(src, dst)
        note = ''
        if has_answers(src):
            note = (f'your answers in {EXERCISES}/{src.name} came along; work in {WORK}/ from now on, '
                    f'then `git checkout {EXERCISES}/{src.name}` so that course updates apply cleanly')
        made.append((dst, note))
    return made


def resolve(name, root=None):
    """The exercises notebook a student means by `name` (see the module's docstring)."""
    root = course_root(root)
    available = sorted(p.name for p in (root / EXERCISES).glob('*.ipynb'))
    stem = Path(str(name)).name
    if stem.endswith('.ipynb'):
        stem = stem[:-len('.ipynb')]
    matches = [a for a in available if a[:-len('.ipynb')] == stem] or \
              [a for a in available if a.startswith(stem + '_')]
    if len(matches) != 1:
        raise WorkCopyError(f'no single exercises notebook called {name!r}: give one of '
                            + ', '.join(a[:-len('.ipynb')] for a in available)
                            + ' (or just its number, e.g. NB=01)')
    return matches[0]


def fresh(name, root=None):
    """Move work/NAME aside (if there) and copy a clean one from exercises/; (new path, old path or None)."""
    root = course_root(root)
    nb = resolve(name, root)
    dst = root / WORK / nb
    old = None
    if dst.exists():
        stamp = time.strftime('%Y%m%d-%H%M%S')
        old = root / WORK / PREVIOUS / f'{dst.stem}-{stamp}.ipynb'
        n = 1
        while old.exists():
            n += 1
            old = old.with_name(f'{dst.stem}-{stamp}-{n}.ipynb')
        old.parent.mkdir(parents=True, exist_ok=True)
        dst.replace(old)
    dst.parent.mkdir(exist_ok=True)
    shutil.copyfile(root / EXERCISES / nb, dst)
    return dst, old


def _rel(path, root):
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m autodiff_lite.workcopy',
        description=f'Your own copies of the exercise notebooks, in {WORK}/ (never overwritten).')
    parser.add_argument('--fresh', metavar='NB',
                        help=f'start one notebook afresh: move {WORK}/NB to {WORK}/{PREVIOUS}/ and copy '
                             f'a clean one from {EXERCISES}/ (NB: 01, 01_chain_rule, ...)')
    args = parser.parse_args(argv)
    try:
        root = course_root()
        if args.fresh is not None:
            dst, old = fresh(args.fresh, root)
            if old:
                print(f'{_rel(old, root)}: your previous copy (open it to take code from it)')
            print(f'{_rel(dst, root)}: a fresh copy of {EXERCISES}/{dst.name}')
            return 0
        for dst, note in make_copies(root):
            print(f'{_rel(dst, root)}: your copy of {EXERCISES}/{dst.name}' + (f' ({note})' if note else ''))
        return 0
    except WorkCopyError as err:
        print(f'workcopy: {err}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
