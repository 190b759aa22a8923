"""The grading side of one notebook: the teacher's test cells decide, on data from the sandbox.

Run as `python -m autodiff_lite.grading.verdict` by the grader (a trusted
process of its own per notebook): it reads a job (JSON on stdin), starts the
student's sandbox, and walks the teacher's notebook:

- a set-up cell runs on both sides (it is the same in the exercises);
- an answer cell: the student's source runs in the sandbox; here, the
  exercise's stub runs instead (a test cell that used a student's name outside
  a probe would meet the stub, and the self-test would fail loudly);
- a test cell runs here, with `probe` calls sent to the sandbox and their
  results decoded as data; the checkers decide here.

It writes one JSON document on stdout: one entry per exercise.
"""
import ast
import json
import re
import sys

from .sandbox import Limits, Sandbox, SandboxError

NBVAL_MARKER = re.compile(r'^\s*#\s*NBVAL_[A-Z_]+\s*$')


class ProbeFailure(Exception):
    """A probe that did not come back: kind 'timeout', 'died' or 'protocol'."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def strip_nbval_markers(source):
    """The source without whole-comment `# NBVAL_...` lines (they mean nothing to grading)."""
    return '\n'.join(line for line in source.splitlines() if not NBVAL_MARKER.match(line))


def probe_sources(source):
    """{name: source of the def without its decorators} for each `@probe` function of a cell."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
                (isinstance(d, ast.Name) and d.id == 'probe') or
                (isinstance(d, ast.Attribute) and d.attr == 'probe') for d in node.decorator_list):
            node.decorator_list = []
            out[node.name] = ast.unparse(node)
    return out


class _Session:
    """The sandbox plus what ran in it, so that it can start again after a hang."""

    def __init__(self, job):
        self.limits = Limits(cell_seconds=float(job.get('timeout', 30)),
                             memory=int(job.get('memory', 2 << 30)))
        self.sandboxed = bool(job.get('sandboxed', True))
        self.box = Sandbox(self.limits, self.sandboxed)
        self.history = []                       # sources that ran fine, in order

    def run(self, source):
        """('ok' | 'error' | 'timeout' | 'died', ename, evalue)."""
        try:
            reply = self.box.run(source)
        except SandboxError as err:
            self.restart()
            return ('timeout' if err.kind == 'timeout' else 'died'), '', str(err)
        status = reply.get('status')
        if status == 'ok':
            self.history.append(source)
            return 'ok', '', ''
        if status == 'timeout':
            return 'timeout', '', ''
        from .wire import one_line
        evalue = (str(reply.get('evalue', '')).strip().splitlines() or [''])[0]
        return 'error', one_line(reply.get('ename', 'Error'), 100), one_line(evalue, 500)

    def probe(self, name, source, payload):
        try:
            reply = self.box.probe(name, source, payload)
        except SandboxError as err:
            self.restart()
            raise ProbeFailure(err.kind, str(err)) from None
        if reply.get('status') == 'timeout':
            raise ProbeFailure('timeout', 'timed out')
        if reply.get('status') != 'ok' or not isinstance(reply.get('result'), dict):
            from .wire import one_line
            raise ProbeFailure('protocol', 'the probe could not run: ' + one_line(
                f"{reply.get('ename', '')}: {reply.get('evalue', '')}", 300))
        return reply['result']

    def restart(self):
        """A fresh sandbox with everything that ran fine before (answers and set-up)."""
        self.box.restart()
        for source in self.history:
            try:
                self.box.run(source)
            except SandboxError:
                self.box.restart()

    def close(self):
        self.box.close()


def _load(path):
    from .submission import load_teacher
    return load_teacher(path)


def _in_hidden(tb, filename, hidden_line):
    """Did the error come from the test cell's hidden block? (the cell's outermost frame)"""
    if hidden_line is None:
        return False
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            return tb.tb_lineno >= hidden_line
        tb = tb.tb_next
    return False


def _not_solved(text, number):
    text = (str(text).strip().splitlines() or [''])[0]
    other = re.match(r'Exercise (\d+\.\d+)', text)
    if other and other[1] != number:
        return 'not solved yet', f'needs Exercise {other[1]} first ({text})'
    return 'not solved yet', text


def run_tests(ns, cell, ex, session, seed, timeout):
    """(status, message, hidden, misconception) of one test cell on the student's probes."""
    from . import probes, wire
    from .build import BEGIN_HIDDEN
    from .checks import CheckFailure
    source = cell['source']
    lines = source.splitlines()
    hidden_line = next((i + 1 for i, line in enumerate(lines) if line.strip() == BEGIN_HIDDEN), None)
    sources = probe_sources(source)

    def call(name, payload):
        if name not in sources:
            raise probes.ProbeError(f'probe {name!r} is not a top-level @probe function of the test cell')
        return session.probe(name, sources[name], payload)

    filename = f'<{ex.tests_id}>'
    probes._State.call, probes._State.seed, probes._State.cell = call, seed, ex.tests_id
    try:
        exec(compile(source, filename, 'exec'), ns)
        return 'passed', '', False, None
    except BaseException as err:       # noqa: B902 - every outcome is a verdict
        hidden = _in_hidden(err.__traceback__, filename, hidden_line)
        return _classify(err, ex, hidden, timeout, CheckFailure, wire, probes) + (hidden,
                                                                                 getattr(err, 'misconception', None))
    finally:
        probes._State.call, probes._State.seed, probes._State.cell = None, 0, ''


def _classify(err, ex, hidden, timeout, CheckFailure, wire, probes):
    student = getattr(err, 'student_type', None)
    where = f'Exercise {ex.number}, a hidden test failed' if hidden else ''
    if isinstance(err, ProbeFailure):
        if err.kind == 'timeout':
            return 'timed out', f'a test of your code timed out after {timeout:g} s (an infinite loop?)'
        if err.kind == 'died':
            return 'error', 'your code ended the sandbox while a test ran (os._exit, a crash, or the memory limit?)'
        return 'failed', f'a test of your code could not be read back ({err})'
    if isinstance(err, wire.WireError):
        return 'failed', f'your result could not be read back: {err}'
    if isinstance(err, NotImplementedError) and student:
        return _not_solved(err, ex.number)
    if isinstance(err, probes.ProbeError) or (isinstance(err, NotImplementedError) and not student):
        return 'error', (f'the test cell is not in the grading format ({type(err).__name__}: '
                         f'{str(err)[:300]}): tell your teacher')
    if student:
        if hidden:
            return 'failed', f'{where}: your code raised {err.student_type}'
        return 'failed', f'your code raised {err.student_type}: {str(err)[:500]}'
    if isinstance(err, AssertionError):
        if hidden:
            hint = err.hint if isinstance(err, CheckFailure) else ''
            mid = getattr(err, 'misconception', None)
            return 'failed', where + (f' [{mid}]' if mid else '') + (f': {hint}' if hint else '')
        return 'failed', str(err).strip() or 'a check failed'
    if isinstance(err, (KeyboardInterrupt, SystemExit)):
        raise err
    return 'error', f'the test cell failed on the grading side ({type(err).__name__}: {str(err)[:300]}): tell your teacher'


def grade_job(job):
    """The entries of one notebook: [{'id', 'status', 'message', 'hidden', 'misconception'}]."""
    session = _Session(job)                       # it boots while we read the teacher's notebook
    try:
        return _grade(job, session)
    finally:
        session.close()


def _grade(job, session):
    from .build import read_exercises, stub_answer
    teacher = _load(job['teacher'])
    exercises = read_exercises(teacher, job['teacher'])
    answers = job['answers']
    seed, timeout = int(job.get('seed', 0)), float(job.get('timeout', 30))
    by_answer = {ex.answer_id: ex for ex in exercises}
    by_tests = {ex.tests_id: ex for ex in exercises}
    ns = {'__name__': '__main__'}
    outcome, failed, setup_failure, seen_answer = {}, [], None, False
    for cell in teacher.cells:
        if cell['cell_type'] != 'code':
            continue
        cid = cell.get('id')
        if cid in by_answer:
            seen_answer = True
            ex = by_answer[cid]
            try:
                exec(compile(stub_answer(cell['source'], ex.todo), f'<{cid}>', 'exec'), ns)
            except BaseException:         # noqa: B902 - a stub that raises at the top is expected
                pass
            if setup_failure:
                outcome[cid] = ('error', setup_failure)
            elif answers.get(cid) is None:
                outcome[cid] = ('missing', f'answer cell {cid!r} is missing (deleted, or its id changed): '
                                           'copy it from a fresh exercises/ notebook')
            else:
                status, ename, evalue = session.run(strip_nbval_markers(answers[cid]))
                if status == 'timeout':
                    outcome[cid] = ('timed out', f'the answer cell timed out after {timeout:g} s (an infinite loop?)')
                elif status == 'died':
                    outcome[cid] = ('error', 'the answer cell ended the sandbox (os._exit, a crash, or the memory limit?)')
                elif status == 'error' and ename == 'NotImplementedError':
                    outcome[cid] = _not_solved(evalue, ex.number)
                elif status == 'error':
                    first = (evalue.strip().splitlines() or [''])[0]
                    outcome[cid] = ('error', _needs_earlier(ename, evalue, failed) or
                                    f'answer cell raised {ename}: {first}')
            if cid in outcome:
                failed.append((ex, outcome[cid][0], teacher_defines(cell['source'])))
        elif cid in by_tests:
            ex = by_tests[cid]
            if ex.answer_id in outcome:
                continue
            status, message, hidden, mid = run_tests(ns, cell, ex, session, seed, timeout)
            if status == 'failed' and 'NameError' in message:
                message = _needs_earlier('NameError', message, failed) or message
            outcome[ex.answer_id] = (status, message, hidden, mid)
        else:
            try:
                exec(compile(cell['source'], f'<{cid}>', 'exec'), ns)
            except BaseException as err:   # noqa: B902
                if not seen_answer and setup_failure is None:
                    setup_failure = f'set-up cell {cid!r} failed on the grading side: {type(err).__name__}: {err}'
            status, ename, evalue = session.run(cell['source'])
            if status != 'ok' and not seen_answer and setup_failure is None:
                setup_failure = f'set-up cell {cid!r} did not run in the sandbox: {ename} {evalue[:200]}'.strip()
    out = []
    for ex in exercises:
        got = outcome.get(ex.answer_id, ('error', 'the test cell did not run'))
        status, message = got[0], got[1]
        out.append({'exercise': ex.number, 'id': ex.answer_id, 'points': ex.points if status == 'passed' else 0,
                    'max_points': ex.points, 'status': status, 'message': message,
                    'hidden': bool(got[2]) if len(got) > 2 else False,
                    'misconception': got[3] if len(got) > 3 else None})
    return out


def teacher_defines(source):
    """Top-level names a cell binds (for 'needs Exercise N.k' messages)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        for sub in ast.walk(node) if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For)) else ():
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                names.add(sub.id)
    return names


_WHY = {'not solved yet': 'is not solved yet', 'missing': 'is missing', 'timed out': 'timed out first'}


def _needs_earlier(ename, evalue, failed):
    if ename != 'NameError':
        return None
    m = re.search(r"name '(\w+)' is not defined", str(evalue))
    for ex, status, names in reversed(failed):
        if m and m[1] in names:
            return f"needs Exercise {ex.number}, which {_WHY.get(status, 'failed first')}: name '{m[1]}' is not defined"
    return None


def main():
    job = json.loads(sys.stdin.read())
    # the result goes out on our own copy of stdout; what the teacher's cells print goes nowhere
    import os
    result_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, 'w')
    try:
        result = {'exercises': grade_job(job), 'error': None}
    except Exception as err:                     # the teacher's notebook out of format, ...
        result = {'exercises': [], 'error': f'{type(err).__name__}: {err}'}
    with os.fdopen(result_fd, 'w') as out:
        out.write(json.dumps(result))


if __name__ == '__main__':
    main()
