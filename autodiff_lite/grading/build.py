"""The exercises generator: `solutions/NN_topic.ipynb` (the one source) -> `exercises/`.

In each answer cell the block between `### BEGIN SOLUTION` and
`### END SOLUTION` becomes `raise NotImplementedError("Exercise N.k: ...")`,
worded by the cell's first-line comment; hidden tests are removed; outputs,
execution counts and widget state are cleared; ids, tags and points are kept.
The output is deterministic, so `--check` compares bytes.
"""
import json
import re
from pathlib import Path

import nbformat

__all__ = ['Exercise', 'read_exercises', 'make_exercise_notebook', 'build', 'check',
           'FormatError', 'BEGIN_SOLUTION', 'END_SOLUTION', 'BEGIN_HIDDEN', 'END_HIDDEN']

BEGIN_SOLUTION, END_SOLUTION = '### BEGIN SOLUTION', '### END SOLUTION'
BEGIN_HIDDEN, END_HIDDEN = '### BEGIN HIDDEN TESTS', '### END HIDDEN TESTS'
ANSWER_ID = re.compile(r'ex(\d+)-(\d+)$')
FIRST_LINE = re.compile(r'#\s*Exercise (\d+\.\d+):\s*(\S.*)$')
TASK_TITLE = re.compile(r'##\s*Exercise (\d+\.\d+):.*\((\d+(?:\.\d+)?) points?\)\s*$')


class FormatError(ValueError):
    """A solutions notebook that does not follow the exercise format."""


class Exercise:
    """One exercise of a notebook: its answer cell, test cell and points."""
    __slots__ = ('number', 'answer_id', 'tests_id', 'points', 'todo')

    def __init__(self, number, answer_id, tests_id, points, todo):
        self.number = number        # '3.2'
        self.answer_id = answer_id  # 'ex3-2'
        self.tests_id = tests_id    # 'ex3-2-tests'
        self.points = points
        self.todo = todo            # 'Exercise 3.2: <what to do>'

    def __repr__(self):
        return f'Exercise({self.number}, {self.points} points)'


def _tags(cell):
    return list(cell.get('metadata', {}).get('tags', []))


def _marker_lines(lines, begin, end, where):
    """Indices of (begin, end) marker pairs; FormatError if they do not pair up."""
    pairs, start = [], None
    for i, line in enumerate(lines):
        text = line.strip()
        if text == begin:
            if start is not None:
                raise FormatError(f'{where}: {begin!r} twice without {end!r} in between')
            start = i
        elif text == end:
            if start is None:
                raise FormatError(f'{where}: {end!r} without a {begin!r} before it')
            pairs.append((start, i))
            start = None
    if start is not None:
        raise FormatError(f'{where}: {begin!r} is never closed: add a line {end!r}')
    return pairs


def _check_task(cell, number, points, where):
    """The task cell states the exercise, its points (as in the test cell) and a hint."""
    if cell is None or cell.cell_type != 'markdown':
        raise FormatError(f'{where}: needs a markdown task cell with this id')
    first = cell.source.strip().splitlines()[0] if cell.source.strip() else ''
    m = TASK_TITLE.match(first)
    if not m or m[1] != number:
        raise FormatError(f"{where}: the first line must be '## Exercise {number}: <title> ({points:g} points)'")
    if float(m[2]) != points:
        raise FormatError(f"{where}: the title says {m[2]} points, the test cell's metadata {points:g}")
    if '**Hint:**' not in cell.source:
        raise FormatError(f"{where}: add a line '**Hint:** ...'")


def read_exercises(nb, path='notebook'):
    """The exercises of a solutions notebook, in order; FormatError names what is wrong and where."""
    by_id = {cell.get('id'): cell for cell in nb.cells}
    exercises = []
    for cell in nb.cells:
        if 'answer' not in _tags(cell):
            continue
        cid = cell.get('id', '')
        where = f'{path}, cell {cid!r}'
        m = ANSWER_ID.match(cid or '')
        if cell.cell_type != 'code' or not m:
            raise FormatError(f"{where}: an 'answer' cell must be a code cell with an id like 'ex3-2'")
        number = f'{m[1]}.{m[2]}'
        lines = cell.source.splitlines()
        first = FIRST_LINE.match(lines[0].strip()) if lines else None
        if not first or first[1] != number:
            raise FormatError(f'{where}: the first line must be the comment '
                              f"'# Exercise {number}: <what to do>'")
        if len(_marker_lines(lines, BEGIN_SOLUTION, END_SOLUTION, where)) != 1:
            raise FormatError(f'{where}: needs exactly one {BEGIN_SOLUTION} ... {END_SOLUTION} block')
        tests = by_id.get(f'{cid}-tests')
        if tests is None or tests.cell_type != 'code' or 'tests' not in _tags(tests):
            raise FormatError(f"{where}: needs a code cell with id '{cid}-tests' and the tag 'tests'")
        points = tests.get('metadata', {}).get('points')
        if not isinstance(points, (int, float)) or isinstance(points, bool) or points <= 0:
            raise FormatError(f"{path}, cell '{cid}-tests': metadata 'points' must be a positive "
                              f'number, got {points!r}')
        _marker_lines(tests.source.splitlines(), BEGIN_HIDDEN, END_HIDDEN, f"{path}, cell '{cid}-tests'")
        _check_task(by_id.get(f'{cid}-task'), number, points, f"{path}, cell '{cid}-task'")
        exercises.append(Exercise(number, cid, f'{cid}-tests', points,
                                  f'Exercise {number}: {first[2].strip()}'))
    numbers = [e.number for e in exercises]
    if len(set(numbers)) != len(numbers):
        raise FormatError(f'{path}: an exercise number appears twice: {numbers}')
    return exercises


def stub_answer(source, todo):
    """The answer cell with its solution block replaced by `raise NotImplementedError(todo)`."""
    lines = source.splitlines()
    (start, end), = _marker_lines(lines, BEGIN_SOLUTION, END_SOLUTION, 'answer cell')
    indent = lines[start][:len(lines[start]) - len(lines[start].lstrip())]
    # a JSON string literal is also a valid Python string literal
    stub = f'{indent}raise NotImplementedError({json.dumps(todo, ensure_ascii=False)})'
    return '\n'.join(lines[:start] + [stub] + lines[end + 1:])


def strip_hidden(source):
    """The test cell without its hidden blocks (markers included)."""
    lines = source.splitlines()
    keep = [True] * len(lines)
    for start, end in _marker_lines(lines, BEGIN_HIDDEN, END_HIDDEN, 'tests cell'):
        keep[start:end + 1] = [False] * (end + 1 - start)
    return '\n'.join(line for line, k in zip(lines, keep) if k).rstrip()


def make_exercise_notebook(nb, path='notebook'):
    """A new notebook: the student's copy of solutions notebook `nb`."""
    todo = {e.answer_id: e.todo for e in read_exercises(nb, path)}
    out = nbformat.v4.new_notebook()
    out.nbformat, out.nbformat_minor = 4, 5
    # only what does not change when someone re-executes the solutions
    if 'kernelspec' in nb.metadata:
        out.metadata['kernelspec'] = nb.metadata['kernelspec']
    out.metadata['language_info'] = {'name': nb.metadata.get('language_info', {}).get('name', 'python')}
    for i, cell in enumerate(nb.cells):
        if not cell.get('id'):
            raise FormatError(f'{path}: cell {i} has no id: save it with nbformat 4.5 (cell ids)')
        meta = {k: v for k, v in cell.get('metadata', {}).items()
                if k not in ('execution', 'collapsed', 'scrolled', 'widgets')}
        source = cell.source
        if cell.cell_type == 'code':
            if cell.id in todo:
                source = stub_answer(source, todo[cell.id])
            elif 'tests' in _tags(cell):
                source = strip_hidden(source)
            new = nbformat.v4.new_code_cell(source, metadata=meta)
        elif cell.cell_type == 'markdown':
            new = nbformat.v4.new_markdown_cell(source, metadata=meta)
        else:
            new = nbformat.v4.new_raw_cell(source, metadata=meta)
        new.id = cell.id
        out.cells.append(new)
    return out


def render(nb):
    """The notebook's bytes, the same on every run."""
    text = nbformat.writes(nb)
    return (text if text.endswith('\n') else text + '\n').encode()


def _pairs(solutions, exercises):
    sources = sorted(Path(solutions).glob('*.ipynb'))
    return [(src, Path(exercises) / src.name) for src in sources]


def generate(src):
    """The exercise notebook's bytes for one solutions notebook."""
    nb = nbformat.read(str(src), as_version=4)
    return render(make_exercise_notebook(nb, str(src)))


def build(solutions, exercises):
    """Write exercises/ from solutions/; returns the files written."""
    Path(exercises).mkdir(parents=True, exist_ok=True)
    written = []
    for src, dst in _pairs(solutions, exercises):
        data = generate(src)
        if not dst.exists() or dst.read_bytes() != data:
            dst.write_bytes(data)
            written.append(dst)
    return written


def check(solutions, exercises):
    """Problems where exercises/ differs from what solutions/ generates (empty list: in sync)."""
    problems = []
    for src, dst in _pairs(solutions, exercises):
        if not dst.exists():
            problems.append(f'{dst} is missing (generated from {src}): run `make exercises`')
        elif dst.read_bytes() != generate(src):
            problems.append(f'{dst} has drifted from {src}: run `make exercises` '
                            f'(edit {src}, never {dst})')
    known = {dst.name for _, dst in _pairs(solutions, exercises)}
    for extra in sorted(Path(exercises).glob('*.ipynb')):
        if extra.name not in known:
            problems.append(f'{extra} has no source {Path(solutions) / extra.name}: '
                            f'move it to {solutions}/ (the one source) or delete it')
    return problems
