"""The student's side: a sandboxed Python that runs answer cells and probes, and nothing else.

`Sandbox` (grading side) starts `python -m autodiff_lite.grading.sandbox` under
bubblewrap: new user, PID, network, IPC, UTS and cgroup namespaces, only the
Python installation, the venv and the package visible (read-only), a private
`/tmp` of bounded size thrown away after, `--die-with-parent`, and limits on
address space, processes, open files and file size. Requests go in on its stdin
(one JSON line each); replies come back on a pipe of their own. Its stdout
and stderr go nowhere: the student's prints never reach the grader's output.

Inside (`serve`), an answer cell runs in IPython (magics work as in JupyterLab);
a probe is the test cell's function, defined over a copy of the student's
namespace and called on the decoded arguments; its result is encoded by
`wire`. Whatever the student's code does in here, what leaves is data, and the
grading side reads it as data.
"""
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ['Sandbox', 'SandboxError', 'bwrap_status', 'Limits']

PACKAGE = Path(__file__).resolve().parents[1]
MAX_REPLY = (16 << 20) + 4096


class SandboxError(Exception):
    """The sandbox did not answer: `kind` is 'timeout', 'died' or 'protocol'."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


class Limits:
    """Per-sandbox limits (seconds per request, bytes of memory and /tmp, processes, files)."""

    def __init__(self, cell_seconds=30.0, memory=2 << 30, tmp_bytes=64 << 20, processes=64, files=256):
        self.cell_seconds, self.memory, self.tmp_bytes = cell_seconds, memory, tmp_bytes
        self.processes, self.files = processes, files


_BWRAP = {}


def bwrap_status():
    """(True, '') when bubblewrap can start a sandbox here, else (False, why). Cached."""
    if 'status' not in _BWRAP:
        exe = shutil.which('bwrap')
        if exe is None:
            _BWRAP['status'] = (False, 'bubblewrap (bwrap) is not installed')
        else:
            try:
                r = subprocess.run(_bwrap_argv(exe, Limits()) + ['/bin/true'], capture_output=True,
                                   timeout=10, stdin=subprocess.DEVNULL)
                _BWRAP['status'] = (r.returncode == 0, r.stderr.decode(errors='replace').strip()[:200]
                                    or f'bwrap exited with {r.returncode}')
            except (OSError, subprocess.TimeoutExpired) as err:
                _BWRAP['status'] = (False, f'bwrap could not start: {err}')
            if _BWRAP['status'][0]:
                _BWRAP['status'] = (True, '')
    return _BWRAP['status']


def _visible_paths():
    """What the sandbox must see: the Python installation, the venv, the package."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), PACKAGE}
    exe = Path(sys.executable)
    paths.add(exe.parent.resolve())
    out = []
    for p in sorted(paths, key=lambda p: len(p.parts)):
        if not any(p == q or q in p.parents for q in out) and not str(p).startswith('/usr'):
            out.append(p)
    return out


def _bwrap_argv(exe, limits):
    argv = [exe, '--unshare-all', '--die-with-parent', '--new-session', '--cap-drop', 'ALL',
            '--ro-bind', '/usr', '/usr', '--proc', '/proc', '--dev', '/dev',
            '--size', str(limits.tmp_bytes), '--tmpfs', '/tmp', '--chdir', '/tmp',
            '--clearenv']
    for link in ('lib', 'lib64', 'bin', 'sbin', 'lib32'):
        if os.path.islink(f'/{link}'):
            argv += ['--symlink', os.readlink(f'/{link}'), f'/{link}']
        elif os.path.isdir(f'/{link}'):
            argv += ['--ro-bind', f'/{link}', f'/{link}']
    if os.path.exists('/etc/ld.so.cache'):
        argv += ['--ro-bind', '/etc/ld.so.cache', '/etc/ld.so.cache']
    if os.getuid() == 0:
        argv += ['--uid', '1000', '--gid', '1000']
    for p in _visible_paths():
        argv += ['--ro-bind', str(p), str(p)]
    env = {'PATH': '/usr/bin:/bin', 'HOME': '/tmp', 'PYTHONDONTWRITEBYTECODE': '1', 'PYTHONNOUSERSITE': '1',
           'OPENBLAS_NUM_THREADS': '1', 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', 'MPLBACKEND': 'Agg',
           'IPYTHONDIR': '/tmp/.ipython', 'MPLCONFIGDIR': '/tmp/.mpl', 'LANG': 'C.UTF-8'}
    for k, v in env.items():
        argv += ['--setenv', k, v]
    return argv


def _user_tasks():
    """How many tasks (threads) this user runs now: RLIMIT_NPROC counts them all."""
    uid, n = os.getuid(), 0
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                if os.stat(f'/proc/{pid}').st_uid == uid:
                    n += len(os.listdir(f'/proc/{pid}/task'))
            except OSError:
                pass
    return n


def _limit(limits, nproc):
    def apply():
        os.setsid()
        for res, value in ((resource.RLIMIT_AS, limits.memory), (resource.RLIMIT_NOFILE, limits.files),
                           (resource.RLIMIT_FSIZE, limits.tmp_bytes), (resource.RLIMIT_CORE, 0),
                           (resource.RLIMIT_NPROC, nproc)):
            try:
                resource.setrlimit(res, (value, value))
            except (ValueError, OSError):
                pass
    return apply


class Sandbox:
    """One student's sandboxed Python. `run(source)` and `probe(...)` return a reply dict or
    raise SandboxError; `close()` ends it and every process it started."""

    def __init__(self, limits=None, sandboxed=True):
        self.limits = limits or Limits()
        self.sandboxed = sandboxed
        self.proc = None
        self.buf = b''
        self.next_id = 0
        self.start()

    def start(self):
        reply_r, reply_w = os.pipe()
        cmd = [sys.executable, '-I', '-m', 'autodiff_lite.grading.sandbox', '--serve', str(reply_w)]
        env = None
        if self.sandboxed:
            cmd = _bwrap_argv(shutil.which('bwrap'), self.limits) + ['--'] + cmd
            # the package is found through the venv (its .pth) or its folder
            cmd[cmd.index('--clearenv') + 1:cmd.index('--clearenv') + 1] = \
                ['--setenv', 'PYTHONPATH', str(PACKAGE.parent)]
            cmd[cmd.index('-I')] = '-s'
        else:
            import tempfile
            self.tmp = tempfile.mkdtemp(prefix='grade-unsafe-')
            env = {'PATH': os.environ.get('PATH', '/usr/bin'), 'HOME': self.tmp, 'PYTHONPATH': str(PACKAGE.parent),
                   'PYTHONDONTWRITEBYTECODE': '1', 'OPENBLAS_NUM_THREADS': '1', 'MPLBACKEND': 'Agg',
                   'IPYTHONDIR': os.path.join(self.tmp, '.ipython')}
            cmd[cmd.index('-I')] = '-s'
        nproc = _user_tasks() + self.limits.processes
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, pass_fds=(reply_w,), env=env,
                                     cwd=None if self.sandboxed else self.tmp,
                                     preexec_fn=_limit(self.limits, nproc))
        os.close(reply_w)
        self.reply = reply_r
        self.buf = b''
        self.booted = False

    def _send(self, msg, seconds):
        self.next_id += 1
        msg['id'] = self.next_id
        msg['seconds'] = seconds
        try:
            self.proc.stdin.write((json.dumps(msg) + '\n').encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise SandboxError('died', 'the sandbox ended (os._exit, a crash, or a memory limit?)') from None
        # the first request also waits for Python, numpy and IPython to load (slow on a busy machine)
        reply = self._receive(self.next_id, seconds + (2.0 if self.booted else 20.0))
        self.booted = True
        return reply

    def _receive(self, want, seconds):
        deadline = time.monotonic() + seconds
        while True:
            while b'\n' in self.buf:
                line, self.buf = self.buf.split(b'\n', 1)
                try:
                    reply = json.loads(line)
                except (ValueError, RecursionError):
                    raise SandboxError('protocol', 'the sandbox sent something that is not a reply') from None
                if isinstance(reply, dict) and reply.get('id') == want:
                    return reply
                raise SandboxError('protocol', 'the sandbox sent a reply out of turn')
            left = deadline - time.monotonic()
            if left <= 0:
                raise SandboxError('timeout', 'timed out')
            ready, _, _ = select.select([self.reply], [], [], min(left, 0.5))
            if not ready:
                if self.proc.poll() is not None:
                    raise SandboxError('died', 'the sandbox ended (os._exit, a crash, or a memory limit?)')
                continue
            chunk = os.read(self.reply, 1 << 20)
            if not chunk:
                raise SandboxError('died', 'the sandbox ended (os._exit, a crash, or a memory limit?)')
            self.buf += chunk
            if len(self.buf) > MAX_REPLY:
                raise SandboxError('protocol', f'a reply larger than {MAX_REPLY:,} bytes')

    def run(self, source, seconds=None):
        """Run a cell's source; {'status': 'ok'} or {'status': 'error', 'ename', 'evalue'}."""
        return self._send({'op': 'run', 'source': source}, seconds or self.limits.cell_seconds)

    def probe(self, name, source, payload, seconds=None):
        """Call the test cell's probe `name` (its def in `source`) on the student's names."""
        return self._send({'op': 'probe', 'name': name, 'source': source, 'payload': payload},
                          seconds or self.limits.cell_seconds)

    def close(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)      # bwrap and all it started (its session)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        self.proc.wait()
        for f in (self.proc.stdin,):
            try:
                f.close()
            except OSError:
                pass
        try:
            os.close(self.reply)
        except OSError:
            pass
        self.proc = None
        if not self.sandboxed:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def restart(self):
        self.close()
        self.start()


# --- inside the sandbox ------------------------------------------------------------------
class _Alarm(BaseException):
    pass


def serve(reply_fd):
    """Answer requests from stdin on `reply_fd` until stdin closes."""
    out = os.fdopen(reply_fd, 'wb', buffering=0)
    requests = os.fdopen(os.dup(0), 'rb')
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)                                   # the student's code reads nothing of ours
    from IPython.core.interactiveshell import InteractiveShell
    from autodiff_lite.grading import wire
    shell = InteractiveShell.instance(history_length=0)
    shell.history_manager.enabled = False
    probes = {}

    def on_alarm(*_):
        raise _Alarm()

    signal.signal(signal.SIGALRM, on_alarm)
    for line in requests:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        reply = {'id': msg.get('id')}
        signal.setitimer(signal.ITIMER_REAL, float(msg.get('seconds', 30)))
        try:
            if msg.get('op') == 'run':
                res = shell.run_cell(msg['source'], store_history=False, silent=False)
                err = res.error_before_exec or res.error_in_exec
                if err is None:
                    reply['status'] = 'ok'
                elif isinstance(err, _Alarm):
                    reply['status'] = 'timeout'
                else:
                    reply.update(status='error', ename=type(err).__name__, evalue=str(err)[:2000])
            elif msg.get('op') == 'probe':
                key = (msg['name'], msg['source'])
                if key not in probes:
                    scope = dict(shell.user_ns)
                    exec(compile(msg['source'], '<probe>', 'exec'), scope)
                    probes[key] = scope[msg['name']]
                args, kwargs, copies = wire.unpack_args(msg['payload'])
                try:
                    result = probes[key](*args, **kwargs)
                    reply['result'] = wire.pack_result(result, copies)
                except _Alarm:
                    raise
                except BaseException as err:          # the student's error is a result too
                    reply['result'] = wire.pack_error(err)
                reply['status'] = 'ok'
            text = wire.dumps(reply) if 'result' in reply else json.dumps(reply)
        except _Alarm:
            text = json.dumps({'id': msg.get('id'), 'status': 'timeout'})
        except BaseException as err:
            text = json.dumps({'id': msg.get('id'), 'status': 'error', 'ename': type(err).__name__,
                               'evalue': str(err)[:2000]})
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        out.write(text.encode() + b'\n')


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--serve':
        # a process of the sandbox: its own working directory, nothing of the grader's
        serve(int(sys.argv[2]))
