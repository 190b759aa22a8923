"""The grader: run the teacher's notebook with only the student's answer cells pasted in.

Nothing else from the student's notebook is trusted: not its outputs, not its
test cells, not its markers or tags. For each notebook the grader

1. takes `solutions/<same name>` (tests and hidden tests included),
2. replaces each `answer` cell's source with the student's cell of the same id
   (nbval markers stripped; an answer that redefines a checker is rejected),
3. runs the cells one by one in a fresh kernel of this Python, with a timeout
   per cell, reloading the checkers before every test cell,
4. scores an exercise when its test cell, its answer cell and the set-up
   cells all ran without error.

Why a kernel of our own instead of `pytest --nbval-lax`: after a cell times
out, nbval marks every later cell as an expected failure, so one infinite loop
would cost every exercise after it. Here the kernel is interrupted (restarted
if need be) and the remaining exercises are graded as usual.
"""
import ast
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from .build import FormatError, read_exercises
from .checks import CHECKERS

__all__ = ['grade_notebook', 'grade', 'format_table', 'strip_nbval_markers', 'tamper_reason',
           'GradingError', 'STATUSES']

STATUSES = ('passed', 'failed', 'not solved yet', 'timed out', 'missing', 'rejected', 'error')
REPO = Path(__file__).resolve().parents[2]
NBVAL_MARKER = re.compile(r'^\s*#\s*NBVAL_[A-Z_]+\s*$')

# Run silently before every test cell: fresh checkers from disk, whatever the answers did.
REFRESH = '''\
def _grader_refresh():
    import importlib
    import autodiff_lite.grading as package
    fresh = importlib.reload(importlib.import_module('autodiff_lite.grading.checks'))
    for name in fresh.CHECKERS:
        get_ipython().user_ns[name] = getattr(fresh, name)
        setattr(package, name, getattr(fresh, name))
_grader_refresh()
del _grader_refresh
'''

# Attribute names whose use in an answer would change how errors are reported.
_ERROR_HOOKS = {'set_custom_exc', 'excepthook', 'showtraceback', '_showtraceback', 'run_cell',
                'user_ns', 'user_global_ns', '__builtins__', 'modules'}
_GUARDED_MODULES = {'np', 'numpy', 'math', 'builtins', 'sys', 'autodiff_lite', 'grading',
                    'checks', 'importlib', 'IPython'}


class GradingError(Exception):
    """A usage error: a file that is not there, a notebook without a teacher's copy."""


# --- what we take from the student --------------------------------------------------
def strip_nbval_markers(source):
    """The source without whole-comment `# NBVAL_...` lines (they mean nothing to grading)."""
    return '\n'.join(line for line in source.splitlines() if not NBVAL_MARKER.match(line))


def _python(source):
    """IPython syntax (magics, !shell) turned into plain Python, then parsed; None if invalid."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        source = TransformerManager().transform_cell(source)
    except Exception:
        pass
    try:
        return ast.parse(source)
    except SyntaxError:
        return None                    # the kernel will report the SyntaxError itself


class _TopLevel(ast.NodeVisitor):
    """The names a cell binds in the notebook's namespace, with the node that binds each.

    That is the cell's top level (loops, `with`, `try` included), `global`
    declarations, and walrus targets that escape a comprehension; not what a
    function, a lambda, a class body or a comprehension keeps to itself.
    """

    def __init__(self):
        self.scopes = ['module']
        self.bound = []                                   # (name, node); (import, alias) for imports

    def _bind(self, name, node, scope=None):
        if (scope or self.scopes[-1]) == 'module':
            self.bound.append((name, node))

    def _inside(self, kind, nodes):
        self.scopes.append(kind)
        for n in nodes:
            self.visit(n)
        self.scopes.pop()

    def visit_Name(self, node):
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self._bind(node.id, node)

    def visit_Import(self, node):
        for alias in node.names:
            self._bind(alias.asname or alias.name.split('.')[0], (node, alias))

    visit_ImportFrom = visit_Import

    def visit_Global(self, node):
        for name in node.names:                          # it binds the notebook's name, wherever it is
            self.bound.append((name, node))

    def _function(self, node):
        # decorators, defaults and annotations are evaluated where the def is
        for n in node.decorator_list + [node.args] + ([node.returns] if node.returns else []):
            self.visit(n)
        self._bind(node.name, node)
        self._inside('function', node.body)

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_Lambda(self, node):
        self.visit(node.args)
        self._inside('function', [node.body])

    def visit_ClassDef(self, node):
        for n in node.decorator_list + node.bases + node.keywords:
            self.visit(n)
        self._bind(node.name, node)
        self._inside('class', node.body)

    def _comprehension(self, node):
        first, *later = node.generators
        self.visit(first.iter)                            # evaluated in the enclosing scope
        parts = [first.target] + first.ifs
        for gen in later:
            parts += [gen.target, gen.iter] + gen.ifs
        parts += [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        self._inside('comprehension', parts)

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def visit_NamedExpr(self, node):
        # `(x := ...)` binds in the nearest scope that is not a comprehension
        self._bind(node.target.id, node, next(s for s in reversed(self.scopes) if s != 'comprehension'))
        self.visit(node.value)

    def visit_ExceptHandler(self, node):
        if node.name:
            self._bind(node.name, node)
        self.generic_visit(node)

    def visit_MatchAs(self, node):
        if node.name:
            self._bind(node.name, node)
        self.generic_visit(node)

    def visit_MatchStar(self, node):
        if node.name:
            self._bind(node.name, node)

    def visit_MatchMapping(self, node):
        if node.rest:
            self._bind(node.rest, node)
        self.generic_visit(node)


def tamper_reason(source):
    """Why an answer cell may not be graded (it changes the checkers), or None.

    Only the notebook's names count as redefining a checker: a function's local
    variable or loop target of the same name changes nothing the tests see.
    """
    tree = _python(source)
    if tree is None:
        return None
    top = _TopLevel()
    top.visit(tree)
    for name, node in top.bound:
        if name not in CHECKERS:
            continue
        if isinstance(node, tuple):                      # (import, alias)
            node, alias = node
            if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('autodiff_lite') \
                    and alias.asname is None:
                continue                                  # the checker itself, imported again
            return f'answer cell rebinds the checker {name!r} (an import as {name})'
        return f'answer cell redefines the checker {name!r}: answers may not change the tests'
    imported = {alias.asname or alias.name.split('.')[0] for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    classes = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    calls = {id(node.func): node for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}

    def store(target, attr):
        # `target.attr = ...`, written out or through setattr/delattr
        base = target
        while isinstance(base, ast.Attribute):
            base = base.value
        if attr in CHECKERS:
            return f'answer cell redefines the checker {attr!r}: answers may not change the tests'
        if isinstance(base, ast.Name) and (base.id in _GUARDED_MODULES or base.id in imported):
            return (f"answer cell changes the module attribute '{ast.unparse(target)}.{attr}': "
                    'answers may not patch libraries')
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
            reason = store(node.value, node.attr)
            if reason:
                return reason
        elif isinstance(node, ast.Attribute) and node.attr in _ERROR_HOOKS:
            return f'answer cell uses {node.attr!r}, which changes how errors are reported'
        elif isinstance(node, ast.Name) and node.id == '__builtins__':
            return "answer cell uses '__builtins__', which could change the checkers"
        elif isinstance(node, ast.Name) and node.id in ('setattr', 'delattr'):
            # setattr(obj, 'name', value) is obj.name = value: judged the same way. It is
            # rejected only when it could reach a checker or a library and we cannot tell.
            call = calls.get(id(node))
            if call is None or len(call.args) < 2 or any(isinstance(a, ast.Starred) for a in call.args[:2]):
                return (f'answer cell uses {node.id}() other than as {node.id}(obj, name, ...), '
                        'which could change the checkers')
            target, attr = call.args[0], call.args[1]
            if isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                if attr.value in _ERROR_HOOKS:
                    return f'answer cell uses {attr.value!r}, which changes how errors are reported'
                reason = store(target, attr.value)
                if reason:
                    return reason
            elif not (isinstance(target, ast.Name) and target.id in classes):
                return (f'answer cell uses {node.id}() with a computed attribute name on '
                        f'{ast.unparse(target)}, which could change the checkers: write the name out')
    return None


# --- a kernel of this very Python -------------------------------------------------------
class _Result:
    __slots__ = ('status', 'ename', 'evalue')

    def __init__(self, status, ename='', evalue=''):
        self.status, self.ename, self.evalue = status, ename, evalue   # ok / error / timeout / died


class _Kernel:
    """One IPython kernel running `sys.executable`; runs code with a timeout, survives loops."""

    def __init__(self, cwd, timeout):
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

        class _ThisPython(KernelSpecManager):
            def get_kernel_spec(self, kernel_name):
                return KernelSpec(argv=[sys.executable, '-m', 'ipykernel_launcher', '-f',
                                        '{connection_file}', '--HistoryManager.hist_file=:memory:'],
                                  display_name='grader', language='python')

        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join([str(REPO)] + [p for p in [env.get('PYTHONPATH')] if p])
        env.update(MPLBACKEND='Agg', PYDEVD_DISABLE_FILE_VALIDATION='1', JUPYTER_PLATFORM_DIRS='1',
                   # a fresh IPython profile: no startup scripts from ~/.ipython run before the tests
                   IPYTHONDIR=str(Path(cwd) / '.ipython'))
        self.timeout = timeout
        self.history = []                     # code that ran fine, replayed after a restart
        self.km = KernelManager(kernel_name='grader', kernel_spec_manager=_ThisPython(),
                                connection_file=str(Path(cwd) / 'kernel.json'))
        # the kernel's own chatter (a TCP warning) is not the student's business
        self.km.start_kernel(cwd=str(cwd), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self._connect()
        except Exception:
            self.km.shutdown_kernel(now=True)
            raise

    def _connect(self):
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def _reply(self, msg_id, seconds):
        """The execute reply for msg_id, or None after `seconds` (or if the kernel died)."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                msg = self.kc.get_shell_msg(timeout=min(left, 1.0))
            except queue.Empty:
                if not self.km.is_alive():
                    return None
                continue
            if msg['parent_header'].get('msg_id') == msg_id:
                return msg['content']

    def _drain(self):
        """Drop the outputs: grading never looks at them."""
        while True:
            try:
                self.kc.get_iopub_msg(timeout=0.01)
            except queue.Empty:
                return

    def _restart(self):
        self.kc.stop_channels()
        self.km.restart_kernel(now=True)
        self._connect()
        for code in self.history:
            self.run(code, remember=False, replay=True)

    def run(self, code, remember=True, replay=False):
        msg_id = self.kc.execute(code, store_history=False, allow_stdin=False, stop_on_error=False)
        reply = self._reply(msg_id, self.timeout)
        if reply is None and self.km.is_alive():
            self.km.interrupt_kernel()        # KeyboardInterrupt ends most loops
            if self._reply(msg_id, 5) is None and not replay:
                self._restart()               # a loop that swallows KeyboardInterrupt
            self._drain()
            return _Result('timeout')
        if reply is None:                     # os._exit(), a segfault, ...
            if not replay:
                self._restart()
            return _Result('died')
        self._drain()
        if reply.get('status') == 'ok':
            if remember:
                self.history.append(code)
            return _Result('ok')
        return _Result('error', reply.get('ename', 'Error'), reply.get('evalue', ''))

    def close(self):
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=True)


# --- grading ----------------------------------------------------------------------------
def _first_line(text):
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ''


def _describe(result, timeout, what):
    if result.status == 'timeout':
        return 'timed out', f'{what} timed out after {timeout:g} s (an infinite loop?)'
    if result.status == 'died':
        return 'error', f'the kernel died while running the {what} (os._exit, or a crash?)'
    return None


def _entry(ex, status, message='', points=0):
    return {'exercise': ex.number, 'id': ex.answer_id, 'points': points if status == 'passed' else 0,
            'max_points': ex.points, 'status': status, 'message': message}


def grade_notebook(path, solutions=None, timeout=30):
    """Grade one student notebook against solutions/<same name>; a dict with one entry per exercise."""
    path = Path(path)
    solutions = Path(solutions) if solutions else default_solutions()
    teacher_path = solutions / path.name
    if not path.is_file():
        raise GradingError(f'{path}: no such notebook')
    if not teacher_path.is_file():
        raise GradingError(_no_teacher_copy(path, solutions))
    teacher = nbformat.read(str(teacher_path), as_version=4)
    try:
        exercises = read_exercises(teacher, str(teacher_path))
    except FormatError as err:
        raise GradingError(str(err)) from None
    report = {'notebook': str(path), 'solutions': str(teacher_path), 'error': None, 'exercises': []}
    try:
        student = nbformat.read(str(path), as_version=4)
        answers = {c.get('id'): c.source for c in student.cells if c.get('cell_type') == 'code'}
    except Exception as err:                  # a broken file still gets a report
        msg = f'could not read the notebook: {type(err).__name__}: {_first_line(err)}'
        report['exercises'] = [_entry(ex, 'error', msg) for ex in exercises]
        return _totals(report)

    # what each exercise brings before anything runs
    pending = {}
    for ex in exercises:
        if ex.answer_id not in answers:
            pending[ex.answer_id] = ('missing', f'answer cell {ex.answer_id!r} is missing '
                                     '(deleted, or its id changed): copy it from a fresh exercises/ notebook')
            continue
        source = strip_nbval_markers(answers[ex.answer_id])
        reason = tamper_reason(source)
        if reason:
            pending[ex.answer_id] = ('rejected', reason)
        answers[ex.answer_id] = source

    by_answer = {ex.answer_id: ex for ex in exercises}
    by_tests = {ex.tests_id: ex for ex in exercises}
    # the names each answer cell is there to define (the teacher's) or does define (the student's)
    teacher_sources = {c.get('id'): c.source for c in teacher.cells}
    defines = {ex.answer_id: _defined_names(teacher_sources[ex.answer_id])
               | _defined_names(answers.get(ex.answer_id, '')) for ex in exercises}
    failed_answers = []                       # (exercise, status) of answer cells that did not run through
    outcome = {}                              # answer id -> (status, message)
    setup_failure = None
    seen_answer = False
    workdir = Path(tempfile.mkdtemp(prefix='grade-'))
    kernel = None
    try:
        shutil.copy(teacher_path, workdir / teacher_path.name)   # the teacher's copy, in a temp dir
        kernel = _Kernel(workdir, timeout)
        for cell in teacher.cells:
            if cell.cell_type != 'code':
                continue
            cid = cell.get('id')
            if cid in by_answer:
                seen_answer = True
                ex = by_answer[cid]
                if setup_failure:
                    outcome[cid] = ('error', setup_failure)
                elif cid in pending:
                    outcome[cid] = pending[cid]
                else:
                    res = kernel.run(answers[cid])
                    bad = _describe(res, timeout, 'answer cell')
                    if bad:
                        outcome[cid] = bad
                    elif res.status == 'error' and res.ename == 'NotImplementedError':
                        outcome[cid] = _not_solved(res.evalue, ex)
                    elif res.status == 'error':
                        outcome[cid] = ('error', _needs_earlier(res, defines, failed_answers)
                                        or f'answer cell raised {res.ename}: {_first_line(res.evalue)}')
                if cid in outcome:
                    failed_answers.append((ex, outcome[cid][0]))
            elif cid in by_tests:
                ex = by_tests[cid]
                if ex.answer_id in outcome:   # the answer already decided it: tests would only echo
                    continue
                kernel.run(REFRESH, remember=False)
                res = kernel.run(cell.source)
                status, message = _test_outcome(res, ex, timeout)
                outcome[ex.answer_id] = (status, _needs_earlier(res, defines, failed_answers) or message)
            else:
                res = kernel.run(cell.source)
                if not seen_answer and res.status != 'ok' and setup_failure is None:
                    bad = _describe(res, timeout, f'set-up cell {cid!r}')
                    setup_failure = bad[1] if bad else \
                        f'set-up cell {cid!r} raised {res.ename}: {_first_line(res.evalue)}'
    finally:
        if kernel is not None:
            kernel.close()
        shutil.rmtree(workdir, ignore_errors=True)
    for ex in exercises:
        status, message = outcome.get(ex.answer_id, ('error', 'the test cell did not run'))
        report['exercises'].append(_entry(ex, status, message, ex.points))
    return _totals(report)


def _test_outcome(res, ex, timeout):
    bad = _describe(res, timeout, 'test cell')
    if bad:
        return bad
    if res.status == 'ok':
        return 'passed', ''
    if res.ename == 'NotImplementedError':
        return _not_solved(res.evalue, ex)
    if res.ename == 'AssertionError':
        return 'failed', str(res.evalue).strip() or 'a check failed (AssertionError without a message)'
    return 'failed', f'{res.ename}: {str(res.evalue).strip()}'


def _defined_names(source):
    """The names a cell binds in the notebook's namespace (none if it does not parse)."""
    tree = _python(source)
    if tree is None:
        return set()
    top = _TopLevel()
    top.visit(tree)
    return {name for name, _ in top.bound}


_WHY_NOT_DEFINED = {'not solved yet': 'is not solved yet', 'missing': 'is missing',
                    'rejected': 'was rejected', 'timed out': 'timed out first'}


def _needs_earlier(res, defines, failed_answers):
    """For a NameError on a name an earlier answer cell was to define, but failed to: say so."""
    if res.status != 'error' or res.ename != 'NameError':
        return None
    m = re.search(r"name '(\w+)' is not defined", str(res.evalue))
    for earlier, status in reversed(failed_answers):
        if m and m[1] in defines[earlier.answer_id]:
            why = _WHY_NOT_DEFINED.get(status, 'failed first')
            return f'needs Exercise {earlier.number}, which {why}: {_first_line(res.evalue)}'
    return None


def _not_solved(evalue, ex):
    """'not solved yet' with the stub's message, naming another exercise if it is that one's stub."""
    text = _first_line(evalue)
    other = re.match(r'Exercise (\d+\.\d+)', text)
    if other and other[1] != ex.number:
        return 'not solved yet', f'needs Exercise {other[1]} first ({text})'
    return 'not solved yet', text


def _no_teacher_copy(path, solutions):
    """Why `path` cannot be graded: no notebook of its name in solutions/; the names that would do."""
    names = sorted(p.name for p in Path(solutions).glob('*.ipynb'))
    close = [n for n in names if n in path.name] or [n for n in names if n[:3] == path.name[:3]]
    guess = f' Did you mean {close[0]}?' if len(close) == 1 else ''
    return (f"{path}: no teacher's copy of that name in {solutions}/ to grade it against "
            f"({', '.join(names) or 'none there'}).{guess} Name it like its lesson (a copy in a "
            'folder of its own keeps the name), or pass --solutions DIR')


def _error_report(path, solutions, message):
    """The report of a notebook that could not be graded at all: no exercises, the reason."""
    return {'notebook': str(path), 'solutions': None, 'error': message,      # (no teacher's copy to name)
            'exercises': [], 'points': 0, 'max_points': 0}


def _totals(report):
    report['points'] = sum(e['points'] for e in report['exercises'])
    report['max_points'] = sum(e['max_points'] for e in report['exercises'])
    return report


def default_solutions():
    """solutions/ next to the package (a source checkout), else in the working directory."""
    for candidate in (REPO / 'solutions', Path.cwd() / 'solutions'):
        if candidate.is_dir():
            return candidate
    raise GradingError('no solutions/ directory found: pass --solutions DIR')


def grade(paths, solutions=None, timeout=30, jobs=1):
    """Grade several notebooks (`jobs` kernels at a time); a list of reports, in order.

    A notebook that cannot be graded (no teacher's copy of its name, a teacher's
    copy out of format) gets a report with its reason in 'error' and no
    exercises; the others are graded as usual.
    """
    paths = [Path(p) for p in paths]
    for p in paths:                           # usage errors first, before any kernel starts
        if not p.is_file():
            raise GradingError(f'{p}: no such notebook')
    solutions = Path(solutions) if solutions else default_solutions()

    def one(path):
        if not (solutions / path.name).is_file():
            return _error_report(path, solutions, _no_teacher_copy(path, solutions))
        try:
            return grade_notebook(path, solutions, timeout)
        except GradingError as err:
            return _error_report(path, solutions, str(err))

    if jobs <= 1 or len(paths) == 1:
        return [one(p) for p in paths]
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(one, paths))


def _rel(path):
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def format_table(reports, width=110):
    """The score table for people: one row per exercise, first line of the message."""
    lines = []
    for rep in reports:
        if rep.get('error'):
            lines.append(f"{_rel(rep['notebook'])}  NOT GRADED")
            lines.append(f"  error: {rep['error']}")
            lines.append('')
            continue
        lines.append(f"{_rel(rep['notebook'])}  (graded against {_rel(rep['solutions'])})")
        lines.append(f"  {'exercise':<9} {'points':>7}  {'status':<15} message")
        for e in rep['exercises']:
            msg = _first_line(e['message'])
            if len(msg) > width:
                msg = msg[:width - 1] + '…'
            pts = f"{e['points']:g}/{e['max_points']:g}"
            lines.append(f"  {e['exercise']:<9} {pts:>7}  {e['status']:<15} {msg}")
        total = f"{rep['points']:g}/{rep['max_points']:g}"
        lines.append(f"  {'total':<9} {total:>7}")
        lines.append('')
    if len(reports) > 1:
        got = sum(r['points'] for r in reports)
        out_of = sum(r['max_points'] for r in reports)
        lines.append(f'all notebooks: {got:g}/{out_of:g}')
    failed = [r for r in reports if r.get('error')]
    if failed:
        lines.append(f'{len(failed)} of {len(reports)} notebooks could not be graded (see "NOT GRADED" above)')
    return '\n'.join(lines).rstrip() + '\n'
