"""Add an exercise to a solutions notebook: its task, answer and test cells, after the last one.

    python -m autodiff_lite.grading new-exercise solutions/01_chain_rule.ipynb 1.6 --points 2

JupyterLab cannot set a cell id, and the grader, the generator and the exports
find an exercise by its ids (`ex1-6-task`, `ex1-6`, `ex1-6-tests`), tags
(`answer`, `tests`) and points (the test cell's metadata and the task's title).
This writes all of them, with a placeholder exercise that already passes its
own tests (so `make test` stays green while you write the real one). Texts that
state how many exercises there are ("Five graded exercises"), in the solutions
notebook and in its lesson (notebooks/NN_topic.ipynb), are updated.
"""
import re
from pathlib import Path


from .build import FormatError, nbf, read_exercises, render

__all__ = ['new_exercise', 'lesson_notebook', 'COUNT', 'count_word', 'stated_counts']

NUMBER = re.compile(r'(\d+)\.(\d+)$')
WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten',
         'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen',
         'nineteen', 'twenty']
# "Five graded exercises", "6 exercises": a stated count of a notebook's exercises
COUNT = re.compile(r'\b(' + '|'.join(WORDS) + r'|\d+)(\s+graded)?(\s+exercises)\b', re.I)


def count_word(n, like):
    """n written the way `like` is (a digit, a word, a capitalised word)."""
    if like.isdigit() or n >= len(WORDS):
        return str(n)
    word = WORDS[n]
    return word.capitalize() if like[:1].isupper() else word


def stated_counts(text):
    """The exercise counts that a text states: [(the words, the number)]."""
    found = []
    for m in COUNT.finditer(text):
        n = m[1]
        found.append((m[0], int(n) if n.isdigit() else WORDS.index(n.lower())))
    return found


def _update_counts(nb, n):
    """Make every stated exercise count in the notebook's markdown say n; returns the cell ids changed."""
    changed = []
    for cell in nb.cells:
        if cell.cell_type != 'markdown':
            continue
        new = COUNT.sub(lambda m: count_word(n, m[1]) + (m[2] or '') + m[3], cell.source)
        if new != cell.source:
            cell.source = new
            changed.append(cell.get('id'))
    return changed


def _cell(kind, source, cid, **meta):
    make = nbf().v4.new_code_cell if kind == 'code' else nbf().v4.new_markdown_cell
    cell = make(source, metadata=meta)
    cell.id = cid
    return cell


def _template(number, points, title, imported):
    """The three cells, in the test-cell format of docs/grading.md (probes, misconceptions)."""
    n, k = number.split('.')
    name, probe_name, cid = f'answer_{n}_{k}', f'probe_{n}_{k}', f'ex{n}-{k}'
    unit = 'point' if points == 1 else 'points'
    task = (f'## Exercise {number}: {title} ({points:g} {unit})\n\n'
            'TODO: the task, in a few sentences: what to write, which names to set.\n\n'
            '**Hint:** TODO: a hint that names the likely misconception.')
    answer = (f'# Exercise {number}: TODO: what to do, in one line (the student sees it in the stub)\n'
              '### BEGIN SOLUTION\n'
              f'{name} = 42\n'
              '### END SOLUTION\n'
              f'{name}')
    missing = [n for n in ('check_close', 'misconception', 'probe') if n not in imported]
    imports = f'from autodiff_lite.grading import {", ".join(missing)}\n\n\n' if missing else ''
    tests = (f'{imports}'
             '@probe                  # every use of the student\'s names goes through a probe\n'
             f'def {probe_name}():\n'
             f'    return {name}\n'
             '\n\n'
             f"check_close({probe_name}(), 42, name='{name}',\n"
             f"            mistakes={{-42: misconception('todo-{n}-{k}', 'TODO: what this wrong value "
             "tells about the student')})\n"
             '### BEGIN HIDDEN TESTS\n'
             f"check_close({probe_name}(), 42, name='{name}', hint='TODO: a hint that gives no number away')\n"
             '### END HIDDEN TESTS')
    return [_cell('markdown', task, f'{cid}-task'),
            _cell('code', answer, cid, tags=['answer']),
            _cell('code', tests, f'{cid}-tests', points=points, tags=['tests'])]


def new_exercise(path, number, points, title='TITLE'):
    """Add Exercise `number` (worth `points`) to solutions notebook `path`; returns the new cell ids."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(f'{path} not found: name a solutions notebook, e.g. solutions/01_chain_rule.ipynb')
    m = NUMBER.match(str(number))
    if not m:
        raise FormatError(f"{number!r} is not an exercise number: write it N.k, e.g. 1.6")
    lesson = re.match(r'(\d+)_', path.name)
    if lesson and int(lesson[1]) != int(m[1]):
        raise FormatError(f'Exercise {number} belongs to lesson {int(m[1]):02d}, and {path.name} is lesson '
                          f'{lesson[1]}: number it {int(lesson[1])}.k, or add it to that lesson\'s notebook')
    if not isinstance(points, (int, float)) or isinstance(points, bool) or not points > 0:
        raise FormatError(f'--points must be a positive number, got {points!r}')
    if float(points).is_integer():
        points = int(points)
    if not str(title).strip() or '\n' in str(title):
        raise FormatError('--title must be one line of text')
    nb = nbf().read(str(path), as_version=4)
    exercises = read_exercises(nb, str(path))
    mine = [e for e in exercises if e.number.split('.')[0] == m[1]]
    last = max((int(e.number.split('.')[1]) for e in mine), default=0)
    taken = {f'ex{int(m[1])}-{int(m[2])}' + s for s in ('', '-task', '-tests')} & {c.get('id') for c in nb.cells}
    if int(m[2]) <= last or taken:
        raise FormatError(f'{path}: Exercise {number} exists already or comes before the last one '
                          f'({m[1]}.{last}): the next free number is {m[1]}.{last + 1}')
    number = f'{int(m[1])}.{int(m[2])}'
    code = '\n'.join(c.source for c in nb.cells if c.cell_type == 'code')
    imported = {name.strip() for line in re.findall(r'^\s*from autodiff_lite\.grading import ([^\n(]*)$',
                                                    code, re.M) for name in line.split(',')}
    cells = _template(number, points, str(title).strip(), imported)
    if exercises:
        at = max(i for i, c in enumerate(nb.cells) if c.get('id') == exercises[-1].tests_id) + 1
    else:
        at = next((i for i, c in enumerate(nb.cells) if c.get('id') == 'summary'), len(nb.cells))
    nb.cells[at:at] = cells
    nb.nbformat, nb.nbformat_minor = 4, max(nb.nbformat_minor, 5)
    _update_counts(nb, len(exercises) + 1)
    read_exercises(nb, str(path))             # the notebook still follows the format
    path.write_bytes(render(nb))
    # the lesson's own text ("Your turn: five graded exercises") follows too
    lesson_nb = lesson_notebook(path)
    if lesson_nb is not None:
        text = nbf().read(str(lesson_nb), as_version=4)
        if _update_counts(text, len(exercises) + 1):
            lesson_nb.write_bytes(render(text))
    return [c.id for c in cells]


def lesson_notebook(path):
    """notebooks/NN_topic.ipynb for solutions/NN_topic.ipynb, if there is one."""
    candidate = Path(path).resolve().parent.parent / 'notebooks' / Path(path).name
    return candidate if candidate.is_file() else None
