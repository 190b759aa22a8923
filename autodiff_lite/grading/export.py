"""Exports: the exercises of solutions/ in nbgrader's and in Otter-Assign's formats.

    python -m autodiff_lite.grading export --to nbgrader DIR   # an nbgrader course directory
    python -m autodiff_lite.grading export --to otter DIR      # Otter-Assign master notebooks

Both come from solutions/ (the one source), like exercises/, and both carry the
test cells as they are written there, whatever they hold: nbgrader and Otter run
them in the student's own kernel, where a test cell is plain Python that raises
an AssertionError with the checker's hint.

- nbgrader: `DIR/source/<lesson>/<lesson>.ipynb` (one assignment per lesson),
  `DIR/nbgrader_config.py`. An answer cell becomes a solution cell (our
  `### BEGIN SOLUTION` markers are nbgrader's), a test cell an autograder-tests
  cell with its points (hidden tests keep nbgrader's markers, which are ours);
  every other cell is read-only; cell ids are kept (nbgrader's `grade_id` is
  the cell id).
- Otter: `DIR/<lesson>.ipynb` master notebooks (`# ASSIGNMENT CONFIG`,
  `# BEGIN QUESTION`, `# BEGIN SOLUTION`, `# BEGIN TESTS`), one question per
  exercise, all or nothing like our grader, with points and success/failure
  messages. A visible test case runs the visible part of the test cell; the
  hidden case runs the whole cell (visible part included, so helpers defined
  there come along). `DIR/requirements.txt` points the autograder at the wheel
  of this package that the zip carries (`files:`), since the package is not on
  a public index.

Both folders also get `autodiff_lite-<version>-py3-none-any.whl`, written here
byte for byte the same on every run (fixed timestamps, sorted entries), so an
export is deterministic: exporting twice gives identical files.
"""
import ast
import base64
import hashlib
import json
import re
import zipfile
from pathlib import Path


from .build import (nbf, BEGIN_HIDDEN, BEGIN_SOLUTION, END_HIDDEN, END_SOLUTION, FormatError,
                    read_exercises, render, strip_hidden, stub_answer)

__all__ = ['export', 'export_nbgrader', 'export_otter', 'build_wheel', 'ExportError', 'TARGETS']

PACKAGE = Path(__file__).resolve().parents[1]           # autodiff_lite/
SOURCE_TREE = PACKAGE.parent                            # the repository (pyproject.toml)
TARGETS = ('nbgrader', 'otter')
# where Gradescope unpacks the autograder zip; Otter puts `files:` under files/
GRADESCOPE_SOURCE = '/autograder/source'
DEFAULT_KERNELSPEC = {'display_name': 'Python 3 (ipykernel)', 'language': 'python', 'name': 'python3'}
HEADER = 'written by `python -m autodiff_lite.grading export`'


class ExportError(ValueError):
    """An export that cannot be written: the message names the problem and the fix."""


# --- shared ----------------------------------------------------------------------------
def _lessons(solutions):
    solutions = Path(solutions)
    if not solutions.is_dir():
        raise ExportError(f'{solutions} is not a folder: pass --solutions with the folder that holds '
                          'the solutions notebooks (NN_topic.ipynb)')
    paths = sorted(solutions.glob('*.ipynb'))
    if not paths:
        raise ExportError(f'{solutions}/ has no notebooks: the exports are made from the solutions '
                          'notebooks (NN_topic.ipynb), the one source')
    lessons = []
    for path in paths:
        try:
            nb = nbf().read(str(path), as_version=4)
        except Exception as err:
            raise ExportError(f'{path} cannot be read as a notebook ({err}): fix or remove it') from err
        exercises = read_exercises(nb, str(path))
        if not exercises:           # a lesson whose exercises are still to be written
            continue
        for i, cell in enumerate(nb.cells):
            if not cell.get('id'):
                raise FormatError(f'{path}: cell {i} has no id: save it with nbformat 4.5 (cell ids)')
        lessons.append((path, nb, exercises))
    if not lessons:
        raise ExportError(f"no notebook in {solutions}/ has an exercise (a cell tagged 'answer'): add one "
                          'with `python -m autodiff_lite.grading new-exercise NOTEBOOK N.k --points P`')
    return lessons


def _prepare_dir(out, solutions):
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError(f'{out} exists and is not a folder: choose another DIR')
    src = Path(solutions).resolve()
    if out.resolve() == src or src in out.resolve().parents:
        raise ExportError(f'{out} is inside {solutions}/: write the export elsewhere (e.g. export/)')
    out.mkdir(parents=True, exist_ok=True)
    return out


def _write(path, data, written):
    """Write bytes when they differ (an unchanged export touches nothing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)
    written.append(path)


def _clean_meta(cell):
    """The cell's metadata without what an execution leaves behind."""
    return {k: v for k, v in cell.get('metadata', {}).items()
            if k not in ('execution', 'collapsed', 'scrolled', 'widgets', 'nbgrader', 'otter')}


def _new_cell(kind, source, cid, meta=None):
    make = {'code': nbf().v4.new_code_cell, 'markdown': nbf().v4.new_markdown_cell,
            'raw': nbf().v4.new_raw_cell}[kind]
    cell = make(source, metadata=meta or {})
    cell.id = cid
    return cell


def _new_notebook(nb):
    out = nbf().v4.new_notebook()
    out.nbformat, out.nbformat_minor = 4, 5
    out.metadata['kernelspec'] = dict(nb.metadata.get('kernelspec') or DEFAULT_KERNELSPEC)
    out.metadata['language_info'] = {'name': nb.metadata.get('language_info', {}).get('name', 'python')}
    return out


# --- the wheel ---------------------------------------------------------------------------
def _project():
    """(name, version, summary, requires-python, dependencies) from pyproject.toml."""
    pyproject = SOURCE_TREE / 'pyproject.toml'
    if not pyproject.exists():
        raise ExportError(f'{pyproject} not found: the export bundles the package as a wheel and needs '
                          'its source tree (pip install -e . from a clone of the course)')
    try:
        import tomllib
    except ImportError:                       # Python 3.10
        tomllib = None
    if tomllib is not None:
        project = tomllib.loads(pyproject.read_text())['project']
    else:
        text = pyproject.read_text()
        project = {k: re.search(rf'^{k}\s*=\s*"([^"]*)"', text, re.M)[1]
                   for k in ('name', 'version', 'description', 'requires-python')}
        deps = re.search(r'^dependencies\s*=\s*\[(.*?)\]', text, re.M | re.S)
        project['dependencies'] = re.findall(r'"([^"]+)"', deps[1]) if deps else []
    return (project['name'], project['version'], project.get('description', ''),
            project.get('requires-python', ''), list(project.get('dependencies', [])))


def _record_hash(data):
    return 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()


def wheel_name():
    name, version, *_ = _project()
    return f"{re.sub(r'[-_.]+', '_', name)}-{version}-py3-none-any.whl"


def build_wheel(dest):
    """Write the package's pure-Python wheel into folder `dest`; returns its path.

    Written directly (no build backend): sorted entries and fixed timestamps make
    it the same bytes on every run, which keeps an export deterministic.
    """
    name, version, summary, requires_python, deps = _project()
    dist = re.sub(r'[-_.]+', '_', name)
    info = f'{dist}-{version}.dist-info'
    files = []
    for path in sorted(PACKAGE.rglob('*')):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        if path.is_file() and '__pycache__' not in path.parts and path.suffix not in ('.pyc', '.pyo'):
            files.append((rel, path.read_bytes()))
    metadata = [f'Metadata-Version: 2.1', f'Name: {name}', f'Version: {version}']
    if summary:
        metadata.append(f'Summary: {summary}')
    if requires_python:
        metadata.append(f'Requires-Python: {requires_python}')
    metadata += [f'Requires-Dist: {d}' for d in deps]
    files.append((f'{info}/METADATA', ('\n'.join(metadata) + '\n').encode()))
    files.append((f'{info}/WHEEL', b'Wheel-Version: 1.0\nGenerator: autodiff_lite.grading.export\n'
                                   b'Root-Is-Purelib: true\nTag: py3-none-any\n'))
    files.append((f'{info}/top_level.txt', b'autodiff_lite\n'))
    record = ''.join(f'{rel},{_record_hash(data)},{len(data)}\n' for rel, data in files)
    files.append((f'{info}/RECORD', (record + f'{info}/RECORD,,\n').encode()))
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / f'{dist}-{version}-py3-none-any.whl'
    tmp = target.with_suffix('.tmp')
    with zipfile.ZipFile(tmp, 'w') as zf:
        for rel, data in files:
            entry = zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(entry, data)
    data = tmp.read_bytes()
    tmp.unlink()
    return target, data


# --- nbgrader ----------------------------------------------------------------------------
NBGRADER_CONFIG = f'''\
# nbgrader configuration for the autodiff-lite exercises ({HEADER};
# it is left alone once you have edited it).
# Each lesson is an assignment: source/<lesson>/<lesson>.ipynb.
c = get_config()  # noqa: F821 (nbgrader provides it)

c.CourseDirectory.course_id = "autodiff-lite"
c.CourseDirectory.root = __import__("os").path.dirname(__import__("os").path.abspath(__file__))
# a cell that loops forever fails after this many seconds instead of stalling the batch
c.ExecutePreprocessor.timeout = 60
'''


def _nbgrader_meta(cell, **fields):
    meta = {'grade': False, 'grade_id': cell.id, 'locked': True, 'schema_version': 3,
            'solution': False, 'task': False}
    meta.update(fields)
    return meta


def nbgrader_notebook(nb, exercises):
    """The nbgrader source notebook of solutions notebook `nb`."""
    answers = {e.answer_id for e in exercises}
    points = {e.tests_id: e.points for e in exercises}
    out = _new_notebook(nb)
    for cell in nb.cells:
        meta = _clean_meta(cell)
        if cell.id in answers:
            meta['nbgrader'] = _nbgrader_meta(cell, solution=True, locked=False)
        elif cell.id in points:
            meta['nbgrader'] = _nbgrader_meta(cell, grade=True, points=points[cell.id])
        else:       # read-only: autograde puts back the teacher's version of these cells
            meta['nbgrader'] = _nbgrader_meta(cell)
        out.cells.append(_new_cell(cell.cell_type, cell.source, cell.id, meta))
    return out


def export_nbgrader(solutions, out):
    """Write an nbgrader course directory into `out`; returns the files written."""
    lessons = _lessons(solutions)
    out = _prepare_dir(out, solutions)
    written = []
    for path, nb, exercises in lessons:
        lesson = path.stem
        _write(out / 'source' / lesson / path.name, render(nbgrader_notebook(nb, exercises)), written)
    config = out / 'nbgrader_config.py'
    if not config.exists() or HEADER in config.read_text():
        _write(config, NBGRADER_CONFIG.encode(), written)
    wheel, data = build_wheel(out)
    _write(wheel, data, written)
    return written


# --- Otter-Assign ------------------------------------------------------------------------
def _py_string(text):
    """A triple-quoted Python literal for `text` (checked to read back the same)."""
    # the closing quotes stand on a line of their own: only a run of three inside needs escaping
    body = text.replace('\\', '\\\\').replace("'''", "\\'\\'\\'")
    literal = f"'''\\\n{body}\n'''"
    assert ast.literal_eval(literal) == text + '\n', 'string literal does not round-trip'
    return literal


def _without_markers(source, begin, end):
    return '\n'.join(line for line in source.splitlines() if line.strip() not in (begin, end))


def _otter_answer(source, todo):
    """Our markers in Otter's spelling; the student's copy gets our stub (a prompt block)."""
    stub_lines = stub_answer(source, todo).splitlines()
    lines, out = source.splitlines(), []
    for i, line in enumerate(lines):
        text = line.strip()
        indent = line[:len(line) - len(text)] if text else ''
        if text == BEGIN_SOLUTION:
            stub = stub_lines[i]                    # the stub sits where the block starts
            out += [f'{indent}r""" # BEGIN PROMPT', stub, f'{indent}""" # END PROMPT',
                    f'{indent}# BEGIN SOLUTION NO PROMPT']
        elif text == END_SOLUTION:
            out.append(f'{indent}# END SOLUTION')
        else:
            out.append(line)
    return '\n'.join(out)


def _test_case(source, name, number, hidden):
    what = 'hidden tests' if hidden else 'tests'
    config = {'hidden': hidden,
              'success_message': f'Exercise {number}: the {what} pass',
              'failure_message': f'Exercise {number}: the {what} fail: the AssertionError above says '
                                 'what was expected, what came, and a hint'}
    head = ['""" # BEGIN TEST CONFIG'] + [f'{k}: {json.dumps(v)}' for k, v in config.items()]
    head.append('""" # END TEST CONFIG')
    label = f"{name}{' (hidden)' if hidden else ''}"
    # Run as written in solutions/ (exec: any statement, no doctest output to match).
    call = f'exec(compile({_py_string(source)}, {json.dumps(label)}, "exec"), globals())'
    return '\n'.join(head + [call])


def _assignment_config(lesson, wheel):
    return '\n'.join([
        '# ASSIGNMENT CONFIG',
        f'# {HEADER} from solutions/{lesson}.ipynb: edit that notebook, then export again',
        f'name: {lesson}',
        'requirements: requirements.txt',
        'files:',
        f'  - {wheel}',
        'init_cell: true',
        'check_all_cell: false',
        'export_cell: false',
        'run_tests: true',
        'generate: true',
        'tests:',
        '  files: false',
        '  ok_format: true',
    ])


def otter_notebook(nb, exercises, lesson, wheel):
    """The Otter-Assign master notebook of solutions notebook `nb`."""
    by_task = {f'{e.answer_id}-task': e for e in exercises}
    by_answer = {e.answer_id: e for e in exercises}
    by_tests = {e.tests_id: e for e in exercises}
    index = {cell.id: i for i, cell in enumerate(nb.cells)}
    for e in exercises:
        order = [index[f'{e.answer_id}-task'], index[e.answer_id], index[e.tests_id]]
        if order != sorted(order):
            raise FormatError(f'{lesson}: exercise {e.number}: its cells must come in the order task '
                              f"('{e.answer_id}-task'), answer ('{e.answer_id}'), tests ('{e.tests_id}'), "
                              'as Otter reads a question top to bottom')
    out = _new_notebook(nb)
    out.cells.append(_new_cell('raw', _assignment_config(lesson, wheel), 'otter-assignment-config'))
    for cell in nb.cells:
        meta, cid = _clean_meta(cell), cell.id
        if cid in by_task:
            e = by_task[cid]
            out.cells.append(_new_cell('raw', '\n'.join([
                '# BEGIN QUESTION', f'name: {e.answer_id}', f'points: {e.points:g}',
                'all_or_nothing: true']), f'{e.answer_id}-question'))
            out.cells.append(_new_cell('markdown', cell.source, cid, meta))
        elif cid in by_answer:
            e = by_answer[cid]
            out.cells.append(_new_cell('raw', '# BEGIN SOLUTION', f'{cid}-begin-solution'))
            out.cells.append(_new_cell('code', _otter_answer(cell.source, e.todo), cid, meta))
            out.cells.append(_new_cell('raw', '# END SOLUTION', f'{cid}-end-solution'))
        elif cid in by_tests:
            e = by_tests[cid]
            visible = strip_hidden(cell.source)
            whole = _without_markers(cell.source, BEGIN_HIDDEN, END_HIDDEN).rstrip()
            out.cells.append(_new_cell('raw', '# BEGIN TESTS', f'{cid}-begin'))
            out.cells.append(_new_cell('code', _test_case(visible, cid, e.number, False), cid, meta))
            if whole != visible:
                out.cells.append(_new_cell('code', _test_case(whole, cid, e.number, True),
                                           f'{cid}-hidden', meta))
            out.cells.append(_new_cell('raw', '# END TESTS', f'{cid}-end'))
            out.cells.append(_new_cell('raw', '# END QUESTION', f'{e.answer_id}-end-question'))
        else:
            out.cells.append(_new_cell(cell.cell_type, cell.source, cid, meta))
    return out


def export_otter(solutions, out):
    """Write Otter-Assign master notebooks (and the wheel they bundle) into `out`."""
    lessons = _lessons(solutions)
    out = _prepare_dir(out, solutions)
    written = []
    wheel, data = build_wheel(out)
    for path, nb, exercises in lessons:
        _write(out / path.name, render(otter_notebook(nb, exercises, path.stem, wheel.name)), written)
    requirements = (f'# {HEADER}: the autograder installs this package from the wheel that the\n'
                    '# zip carries (Otter puts `files:` under files/ where Gradescope unpacks it)\n'
                    f'{GRADESCOPE_SOURCE}/files/{wheel.name}\n')
    _write(out / 'requirements.txt', requirements.encode(), written)
    _write(wheel, data, written)
    return written


def export(to, out, solutions):
    """Write the `to` export ('nbgrader' or 'otter') of `solutions` into `out`."""
    if to == 'nbgrader':
        return export_nbgrader(solutions, out)
    if to == 'otter':
        return export_otter(solutions, out)
    raise ExportError(f'unknown export target {to!r}: choose one of {", ".join(TARGETS)}')


# --- command line (python -m autodiff_lite.grading export ...) ---------------------------
def _rel(path):
    try:
        return Path(path).resolve().relative_to(Path.cwd())
    except ValueError:
        return Path(path)


def cmd_export(args):
    from .grader import default_solutions
    solutions = Path(args.solutions) if args.solutions else default_solutions()
    written = export(args.to, args.dir, solutions)
    for path in written:
        print(f'wrote {_rel(path)}')
    print(NEXT_STEPS[args.to].format(dir=_rel(args.dir)))
    return 0


NEXT_STEPS = {
    'nbgrader': ('next: cd {dir} && nbgrader generate_assignment <lesson> (see docs/exports.md; '
                 'the graders\' Python needs this package: pip install {dir}/autodiff_lite-*.whl)'),
    'otter': 'next: otter assign {dir}/<lesson>.ipynb <out>/<lesson> (see docs/exports.md)',
}


def cmd_new_exercise(args):
    from .new_exercise import new_exercise
    cells = new_exercise(args.notebook, args.number, args.points, title=args.title)
    print(f"added Exercise {args.number} ({args.points:g} points) to {_rel(args.notebook)}: cells "
          f"{', '.join(cells)}. Write its task, answer and tests there, then `make notebooks "
          f"NB={_rel(args.notebook)}` and `make exercises`")
    return 0


def add_export_commands(sub):
    """The `export` and `new-exercise` subcommands."""
    p = sub.add_parser('export', help="write the exercises in nbgrader's or Otter-Assign's format")
    p.add_argument('--to', required=True, choices=TARGETS)
    p.add_argument('dir', metavar='DIR', help='the folder to write (created if missing)')
    p.add_argument('--solutions', help='default: solutions/ of this course')
    p.set_defaults(run=cmd_export)
    p = sub.add_parser('new-exercise', help='add an exercise (task, answer and test cells) to a '
                                            'solutions notebook, after its last exercise')
    p.add_argument('notebook', metavar='NOTEBOOK', help='solutions/NN_topic.ipynb')
    p.add_argument('number', metavar='N.k', help='the exercise number, e.g. 1.6')
    p.add_argument('--points', type=float, required=True, help='points for the exercise')
    p.add_argument('--title', default='TITLE', help='its title (default: TITLE, to edit)')
    p.set_defaults(run=cmd_new_exercise)
