"""The exercises generator: `solutions/NN_topic.ipynb` (the one source) -> `exercises/`.

In each answer cell the block between `### BEGIN SOLUTION` and
`### END SOLUTION` becomes `raise NotImplementedError("Exercise N.k: ...")`,
worded by the cell's first-line comment; hidden tests are removed; outputs,
execution counts and widget state are cleared; ids, tags and points are kept.
The output is deterministic, so `--check` compares bytes.

Students work in exercises/, so `build` never overwrites a notebook whose
answer cells hold work: the generator records a digest of the answer cells it
wrote (notebook metadata `autodiff_lite.generated_answers`), and a notebook
whose answer cells match neither that digest nor the stubs it would write now
is left alone unless forced.
"""
import ast
import hashlib
import json
import re
from pathlib import Path


__all__ = ['Exercise', 'read_exercises', 'make_exercise_notebook', 'build', 'check', 'worked_answers',
           'FormatError', 'BEGIN_SOLUTION', 'END_SOLUTION', 'BEGIN_HIDDEN', 'END_HIDDEN']

BEGIN_SOLUTION, END_SOLUTION = '### BEGIN SOLUTION', '### END SOLUTION'
BEGIN_HIDDEN, END_HIDDEN = '### BEGIN HIDDEN TESTS', '### END HIDDEN TESTS'
ANSWER_ID = re.compile(r'ex(\d+)-(\d+)$')
FIRST_LINE = re.compile(r'#\s*Exercise (\d+\.\d+):\s*(\S.*)$')
TASK_TITLE = re.compile(r'##\s*Exercise (\d+\.\d+):.*\((\d+(?:\.\d+)?) points?\)\s*$')


def nbf():
    """nbformat, imported when needed (its validator costs a second at start-up)."""
    import nbformat
    return nbformat


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


def _student_names(answer):
    """Names the student's work defines: bound inside the solution block at the top level, or
    a top-level def/class whose body holds the block."""
    try:
        tree = ast.parse(answer)
    except SyntaxError:
        return set()
    lines = answer.splitlines()
    begin = next(i + 1 for i, line in enumerate(lines) if line.strip() == BEGIN_SOLUTION)
    end = next(i + 1 for i, line in enumerate(lines) if line.strip() == END_SOLUTION)
    names = set()
    for node in tree.body:
        last = getattr(node, 'end_lineno', node.lineno)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.lineno < begin < last:
            names.add(node.name)
        elif begin < node.lineno < end:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
                elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and sub in tree.body:
                    names.add(sub.name)
    return names


def _is_probe(node):
    return isinstance(node, ast.FunctionDef) and any(
        (isinstance(d, ast.Name) and d.id == 'probe') or (isinstance(d, ast.Attribute) and d.attr == 'probe')
        for d in node.decorator_list)


def _locals(fn):
    """The names a function (or lambda, or comprehension) binds for itself."""
    out = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)} if hasattr(fn, 'args') else set()
    body = fn.body if isinstance(fn.body, list) else [fn.body]
    for node in body:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                out.add(sub.id)
            elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.add(sub.name)
    return out


def _global_loads(body, local):
    """(name, line) of the names `body` reads from the notebook (skipping @probe functions
    and names local to a function, a lambda or a comprehension)."""
    out = []

    def visit(node, local):
        if _is_probe(node):
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for d in getattr(node, 'decorator_list', []) + node.args.defaults:
                visit(d, local)
            inner = local | _locals(node)
            for child in (node.body if isinstance(node.body, list) else [node.body]):
                visit(child, inner)
            return
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            local = local | {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local:
            out.append((node.id, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, local)

    for node in body:
        visit(node, local)
    return out


def _check_probes(answer, tests, where):
    """The rules a grader relies on: a student's name is used only inside a @probe; a probe
    uses no helper of the test cell (it runs in the student's process, with their names)."""
    try:
        tree = ast.parse(tests)
    except SyntaxError as err:
        raise FormatError(f'{where}: the test cell is not valid Python ({err.msg}, line {err.lineno})') from None
    student = _student_names(answer)
    probes = [n for n in tree.body if _is_probe(n)]
    helpers = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            helpers.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            helpers.update((a.asname or a.name).split('.')[0] for a in node.names)
        else:
            helpers.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    student -= helpers                    # a helper of the test cell's own by the same name is the teacher's
    for name, line in _global_loads(tree.body, set()):
        if name in student:
            raise FormatError(f"{where}, line {line}: '{name}' is the student's, used outside a @probe: "
                              'call it inside a @probe function (docs/grading.md, rule 1)')
    for p in probes:
        own = {a.arg for a in ast.walk(p.args) if isinstance(a, ast.arg)} | {
            n.id for n in ast.walk(p) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)} | {
            n.name for n in ast.walk(p) if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n is not p} | {
            (a.asname or a.name).split('.')[0] for n in ast.walk(p) if isinstance(n, (ast.Import, ast.ImportFrom))
            for a in n.names}
        for sub in ast.walk(p):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id in helpers - own \
                    and sub.id != p.name:
                raise FormatError(f"{where}, line {sub.lineno}: probe {p.name}() uses '{sub.id}' of the test cell; "
                                  "a probe runs in the student's process and sees only their names: define it "
                                  'inside the probe (docs/grading.md, rule 2)')


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
        _check_probes(cell.source, tests.source, f"{path}, cell '{cid}-tests'")
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
    out = nbf().v4.new_notebook()
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
            new = nbf().v4.new_code_cell(source, metadata=meta)
        elif cell.cell_type == 'markdown':
            new = nbf().v4.new_markdown_cell(source, metadata=meta)
        else:
            new = nbf().v4.new_raw_cell(source, metadata=meta)
        new.id = cell.id
        out.cells.append(new)
    # what the answer cells were when written: build then tells them from a student's work
    out.metadata['autodiff_lite'] = {'generated_answers': _digest(_answer_cells(out))}
    return out


def _answer_cells(nb):
    """{id: source} of the cells with an answer id (exN-k), whatever their tags."""
    return {c.get('id'): c.get('source', '') for c in nb.cells if ANSWER_ID.match(c.get('id') or '')}


def _digest(answers):
    text = json.dumps(sorted(answers.items()), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def worked_answers(path, fresh):
    """Ids of the answer cells of exercises notebook `path` that hold someone's work ([] if none).

    A cell holds work when the notebook's answer cells differ both from what the
    generator wrote into it (its recorded digest: a notebook left behind by a change
    in solutions/ is not work) and from `fresh`, the notebook the generator writes now.
    """
    try:
        nb = nbf().read(str(path), as_version=4)
    except Exception:
        return ['(the notebook cannot be read)']
    mine = _answer_cells(nb)
    if nb.metadata.get('autodiff_lite', {}).get('generated_answers') == _digest(mine):
        return []
    new = _answer_cells(fresh)
    return sorted(cid for cid in set(mine) | set(new) if mine.get(cid) != new.get(cid))


def render(nb):
    """The notebook's bytes, the same on every run."""
    text = nbf().writes(nb)
    return (text if text.endswith('\n') else text + '\n').encode()


def _pairs(solutions, exercises):
    sources = sorted(Path(solutions).glob('*.ipynb'))
    return [(src, Path(exercises) / src.name) for src in sources]


def _exercise_notebook(src):
    return make_exercise_notebook(nbf().read(str(src), as_version=4), str(src))


def generate(src):
    """The exercise notebook's bytes for one solutions notebook."""
    return render(_exercise_notebook(src))


def _work_message(dst, cells):
    return (f"{dst} holds a student's work: answer cells {', '.join(cells)} differ from the stubs")


def build(solutions, exercises, force=False):
    """Write exercises/ from solutions/; returns (files written, notebooks left alone and why).

    A notebook whose answer cells hold work is not overwritten unless `force`.
    """
    Path(exercises).mkdir(parents=True, exist_ok=True)
    written, refused = [], []
    for src, dst in _pairs(solutions, exercises):
        nb = _exercise_notebook(src)
        data = render(nb)
        if dst.exists() and dst.read_bytes() == data:
            continue
        cells = [] if force or not dst.exists() else worked_answers(dst, nb)
        if cells:
            refused.append(f'{_work_message(dst, cells)}: not overwritten. To keep it, move it out '
                           f'of {exercises}/ (e.g. mkdir -p mine && mv {dst} mine/) and build again; '
                           'to replace it with a fresh copy, pass --force (make exercises FORCE=1)')
            continue
        dst.write_bytes(data)
        written.append(dst)
    return written, refused


def check(solutions, exercises):
    """Problems where exercises/ differs from what solutions/ generates (empty list: in sync)."""
    problems = []
    for src, dst in _pairs(solutions, exercises):
        if not dst.exists():
            problems.append(f'{dst} is missing (generated from {src}): run `make exercises`')
            continue
        nb = _exercise_notebook(src)
        if dst.read_bytes() == render(nb):
            continue
        cells = worked_answers(dst, nb)
        if cells:
            problems.append(f'{_work_message(dst, cells)}, so it is not the copy generated from {src}: '
                            f'move it out of {exercises}/, then run `make exercises`')
        else:
            problems.append(f'{dst} has drifted from {src}: run `make exercises` '
                            f'(edit {src}, never {dst})')
    known = {dst.name for _, dst in _pairs(solutions, exercises)}
    for extra in sorted(Path(exercises).glob('*.ipynb')):
        if extra.name not in known:
            problems.append(f'{extra} has no source {Path(solutions) / extra.name}: move it to '
                            f'{solutions}/ if it is a new lesson (the one source), or out of {exercises}/ '
                            "if it is someone's work")
    return problems
