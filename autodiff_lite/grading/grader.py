"""The grader: each notebook graded by a process of its own, the student's code in a sandbox.

For a notebook the grader

1. reads the submission as data (`submission.py`): only the sources of its
   code cells, matched to the teacher's answer cells by id;
2. starts a verdict process (`verdict.py`) with the teacher's notebook
   (`solutions/<same name>`, hidden tests included), the answers and a per-run
   seed; that process starts the student's sandbox (`sandbox.py`), runs the
   answers there, runs the test cells itself and sends their probes to the
   sandbox;
3. reads back one JSON document (bounded, with a deadline) and makes the
   report; anything that went wrong becomes an `error` row.

Whenever bubblewrap can start, the sandbox is used, whatever the command line.
Without it, grading one's own work runs unsandboxed with a warning; grading a
class refuses unless told `unsafe=True`.
"""
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

from .report import format_table
from .sandbox import bwrap_status
from .submission import SubmissionError, read_answers
from .verdict import strip_nbval_markers

__all__ = ['grade_notebook', 'grade', 'format_table', 'strip_nbval_markers', 'GradingError', 'STATUSES',
           'default_solutions', 'sandbox_mode']

STATUSES = ('passed', 'failed', 'not solved yet', 'timed out', 'missing', 'error')
REPO = Path(__file__).resolve().parents[2]
MAX_RESULT = 4 << 20


class GradingError(Exception):
    """A usage error: a file that is not there, no solutions, no sandbox where one is required."""


def sandbox_mode(require=False, unsafe=False, warn=print):
    """True (sandboxed) when bwrap can start; else False with a warning, or GradingError
    when `require` (a class, --strict) and not `unsafe`."""
    ok, why = bwrap_status()
    if ok:
        return True
    if require and not unsafe:
        raise GradingError(f'grading a class needs the bubblewrap sandbox, and it cannot start here ({why}). '
                           'Install it (apt-get install bubblewrap), or pass --unsafe to grade without it')
    warn(f'warning: grading without a sandbox ({why}); fine for your own work, never for a class')
    return False


def _job_report(path, teacher_path, entries, error=None):
    rep = {'notebook': str(path), 'solutions': str(teacher_path) if teacher_path else None,
           'error': error, 'exercises': entries}
    rep['points'] = sum(e['points'] for e in entries)
    rep['max_points'] = sum(e['max_points'] for e in entries)
    return rep


def _all_entries(teacher_path, status, message):
    """Every exercise of the teacher's notebook with one status (a submission that failed whole)."""
    from .build import read_exercises
    from .submission import load_teacher
    exs = read_exercises(load_teacher(teacher_path), str(teacher_path))
    return [{'exercise': e.number, 'id': e.answer_id, 'points': 0, 'max_points': e.points, 'status': status,
             'message': message, 'hidden': False, 'misconception': None} for e in exs]


def grade_notebook(path, solutions=None, timeout=30, seed=None, sandboxed=None, notebook_seconds=None):
    """Grade one notebook against solutions/<same name>; a report dict (never raises for the
    submission's sake: a notebook that cannot be graded gets 'error')."""
    path = Path(path)
    solutions = Path(solutions) if solutions else default_solutions()
    teacher_path = solutions / path.name
    if not teacher_path.is_file():
        return _job_report(path, None, [], _no_teacher_copy(path, solutions))
    try:
        answers = read_answers(path)
    except SubmissionError as err:
        msg = f'{path.name} {err}'
        try:
            return _job_report(path, teacher_path, _all_entries(teacher_path, 'error', msg), msg)
        except Exception:
            return _job_report(path, teacher_path, [], msg)
    if sandboxed is None:
        sandboxed = sandbox_mode(warn=lambda m: print(m, file=sys.stderr))
    job = {'teacher': str(teacher_path), 'answers': answers, 'timeout': timeout,
           'seed': secrets.randbits(31) if seed is None else int(seed), 'sandboxed': bool(sandboxed)}
    # every answer and test cell may take its time, and a hang costs a restart
    limit = notebook_seconds or 60.0 + timeout * 2 * (len(_all_entries(teacher_path, '', '')) + 1)
    out, err = _run_verdict(job, limit)
    if err:
        rep = _job_report(path, teacher_path, _all_entries(teacher_path, 'error', err), err)
    else:
        rep = _job_report(path, teacher_path, out['exercises'], out.get('error'))
    rep['selfcheck'] = (solutions / '.selfcheck').exists()
    return rep


def _run_verdict(job, seconds):
    """(result, None) or (None, why): the verdict process, with a deadline and a size bound."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO)] + [p for p in [env.get('PYTHONPATH')] if p])
    env.update(MPLBACKEND='Agg', OPENBLAS_NUM_THREADS='1', PYTHONDONTWRITEBYTECODE='1')
    proc = subprocess.Popen([sys.executable, '-m', 'autodiff_lite.grading.verdict'], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=str(REPO),
                            start_new_session=True, preexec_fn=_die_with_us)
    chunks, size = [], [0]

    def read():
        while True:
            b = proc.stdout.read(1 << 16)
            if not b:
                return
            size[0] += len(b)
            if size[0] > MAX_RESULT:
                proc.kill()
                return
            chunks.append(b)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc.stdin.write(json.dumps(job).encode())
        proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        _kill(proc)
        return None, f'grading this notebook took more than {seconds:g} s and was stopped'
    finally:
        _kill(proc)
    reader.join(5)
    if size[0] > MAX_RESULT:
        return None, 'the grading result was too large'
    try:
        out = json.loads(b''.join(chunks))
        assert isinstance(out, dict) and isinstance(out.get('exercises'), list)
        return out, None
    except (ValueError, AssertionError):
        return None, f'the grading process ended without a result (exit code {proc.returncode})'


def _die_with_us():
    """In the verdict process: end when the grader ends (Ctrl-C, a kill), taking its sandbox along."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, 9)      # PR_SET_PDEATHSIG, SIGKILL (Linux)
    except (OSError, AttributeError):
        pass


def _kill(proc):
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _no_teacher_copy(path, solutions):
    """Why `path` cannot be graded: no notebook of its name in solutions/; the names that would do."""
    names = sorted(p.name for p in Path(solutions).glob('*.ipynb'))
    close = [n for n in names if n in path.name] or [n for n in names if n[:3] == path.name[:3]]
    guess = f' Did you mean {close[0]}?' if len(close) == 1 else ''
    return (f"{path.name}: no teacher's notebook of that name to grade it against "
            f"({', '.join(names) or 'none'}).{guess} Name it like its lesson (a copy in a "
            'folder of its own keeps the name)')


def default_solutions():
    """solutions/ next to the package (a source checkout), else in the working directory; in a
    graded class's copy (see release.py), selfcheck/: the visible tests only."""
    for candidate in (REPO / 'solutions', Path.cwd() / 'solutions', REPO / 'selfcheck', Path.cwd() / 'selfcheck'):
        if candidate.is_dir():
            return candidate
    raise GradingError("no teacher's notebooks here (solutions/ or selfcheck/): in a graded class your grade comes "
                       'from your teacher. Your visible tests run when you run the test cells in JupyterLab '
                       '(or: pytest --nbval-lax work/). A teacher passes --solutions DIR')


def grade(paths, solutions=None, timeout=30, jobs=1, seed=None, require_sandbox=False, unsafe=False,
          progress=None):
    """Grade several notebooks (`jobs` at a time); a list of reports, in order. Every notebook
    gets a report; one that could not be graded has its reason in 'error'."""
    paths = [Path(p) for p in paths]
    for p in paths:                           # usage errors first
        if not p.exists() and not p.is_symlink():
            raise GradingError(f'{p}: no such notebook')
    solutions = Path(solutions) if solutions else default_solutions()
    sandboxed = sandbox_mode(require_sandbox, unsafe, warn=lambda m: print(m, file=sys.stderr))
    seed = secrets.randbits(31) if seed is None else seed
    done, lock, start = [0], threading.Lock(), time.monotonic()

    def one(path):
        try:
            rep = grade_notebook(path, solutions, timeout, seed, sandboxed)
        except Exception as err:              # never let one notebook take the batch down
            rep = _job_report(path, None, [], f'could not be graded: {type(err).__name__}: {err}')
        with lock:
            done[0] += 1
            if progress:
                progress(done[0], len(paths), path, time.monotonic() - start)
        return rep

    if jobs <= 1 or len(paths) == 1:
        reports = [one(p) for p in paths]
    else:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(jobs) as pool:
            reports = list(pool.map(one, paths))
    for r in reports:
        r['seed_of_run'] = seed
    return reports
