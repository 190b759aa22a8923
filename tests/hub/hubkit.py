"""A real JupyterHub on 127.0.0.1 for the hub test and the 10-student benchmark.

The parts come from their own registries and live in .hub/ (git-ignored), apart
from the course's .venv:

- .hub/venv: the student environment exactly as binder/ describes it
  (binder/requirements.txt, then binder/postBuild) plus requirements-hub.txt
  (JupyterHub itself);
- .hub/node_modules: npm's configurable-http-proxy.

`Hub` writes a jupyterhub_config.py into a temporary folder: dummy
authenticator (any name, one class password), SimpleLocalProcessSpawner (no
Unix users needed; every student gets their own home and notebook_dir under the
temporary folder), and binder/start in front of jupyterhub-singleuser, the
start-up hook a real deployment uses. Everything it starts carries a marker in
its environment, and leaving the `with` block ends exactly those processes.
"""
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
HUB_DIR = ROOT / '.hub'
VENV = HUB_DIR / 'venv'
PYTHON = VENV / 'bin' / 'python'
CHP = HUB_DIR / 'node_modules' / '.bin' / 'configurable-http-proxy'
CHP_SPEC = 'configurable-http-proxy@^5'       # JupyterHub 5 and 6 use CHP 4.x/5.x
STAMP = VENV / '.installed'
INSTALL_INPUTS = ['binder/requirements.txt', 'binder/postBuild', 'requirements-hub.txt', 'pyproject.toml']
MARKER = 'AUTODIFF_LITE_HUB_RUN'             # set on every process a Hub starts
PASSWORD = 'class-password'


class Unavailable(Exception):
    """A part (JupyterHub, the proxy, Node) could not be installed here; the message says why."""


def _digest():
    h = hashlib.sha256(CHP_SPEC.encode())
    for name in INSTALL_INPUTS:
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()


def _run(cmd, what, fix, reachable=None, **kw):
    """Run an install step. When it fails: Unavailable (the test skips) if the registry is
    out of reach (`reachable()` says no), else a RuntimeError (the test fails): with the
    registry there, a failed install is the configuration's fault."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    except OSError as err:
        raise Unavailable(f'{what}: {err}; {fix}') from None
    if proc.returncode:
        tail = [line for line in (proc.stderr + proc.stdout).splitlines() if 'is ignored' not in line][-6:]
        message = f'{what} failed (exit {proc.returncode}): ' + ' | '.join(tail)
        if reachable is not None and not reachable():
            raise Unavailable(f'{message}; {fix}')
        raise RuntimeError(message)
    return proc


def _pypi_reachable():
    return subprocess.run([str(PYTHON), '-m', 'pip', 'index', 'versions', 'pip'],
                          capture_output=True, timeout=120).returncode == 0


def _npm_reachable():
    return subprocess.run(['npm', 'view', 'configurable-http-proxy', 'version'],
                          capture_output=True, timeout=120).returncode == 0


def _ensure_npm(log):
    """CI's fresh machine may lack Node: as root with apt (and CI=true), install it."""
    if shutil.which('npm'):
        return
    if os.environ.get('CI') == 'true' and os.getuid() == 0 and shutil.which('apt-get'):
        log('hub test: no npm; installing Debian\'s nodejs and npm')
        subprocess.run('apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm',
                       shell=True, capture_output=True)
    if not shutil.which('npm'):
        raise Unavailable('npm not found: configurable-http-proxy is an npm package; '
                          'install Node.js and npm (apt-get install nodejs npm)')


def ensure_components(log=print):
    """Install JupyterHub, the course (as binder/ says) and the proxy into .hub/ once.

    Re-installs when binder/ or requirements-hub.txt change. Raises Unavailable
    with the reason when a registry or a tool is out of reach, RuntimeError when
    an install fails with the registry there (binder/ is wrong).
    """
    digest = _digest()
    if not (STAMP.is_file() and STAMP.read_text() == digest and CHP.exists()):
        started = time.monotonic()
        log('hub test: installing JupyterHub and the course into .hub/venv, the proxy into .hub/node_modules')
        if not PYTHON.exists():
            _run([sys.executable, '-m', 'venv', str(VENV)], 'creating .hub/venv',
                 'install python3-venv (apt-get install python3-venv)', reachable=lambda: False)
        pip = [str(PYTHON), '-m', 'pip', 'install', '-q', '--disable-pip-version-check']
        _run(pip + ['-r', str(ROOT / 'requirements-hub.txt'), '-r', str(ROOT / 'binder/requirements.txt')],
             'pip install -r requirements-hub.txt -r binder/requirements.txt', 'PyPI must be reachable',
             reachable=_pypi_reachable)
        # binder/postBuild as repo2docker runs it: repository root, the environment's tools first on PATH
        build_home = HUB_DIR / 'build-home'         # what postBuild leaves in $HOME stays in .hub/
        build_home.mkdir(parents=True, exist_ok=True)
        _run(['bash', str(ROOT / 'binder/postBuild')], 'binder/postBuild', '', cwd=ROOT,
             env={**os.environ, 'HOME': str(build_home), 'PATH': f'{VENV / "bin"}:{os.environ["PATH"]}'})
        _ensure_npm(log)
        _run(['npm', 'install', '--prefix', str(HUB_DIR), '--no-audit', '--no-fund', '--silent', CHP_SPEC],
             'npm install configurable-http-proxy', 'the npm registry must be reachable',
             reachable=_npm_reachable)
        if not CHP.exists():
            raise RuntimeError(f'npm installed configurable-http-proxy but {CHP} is missing')
        STAMP.write_text(digest)
        log(f'hub test: installed in {time.monotonic() - started:.0f} s')
    return {'python': PYTHON, 'proxy': CHP}


R2D_VENV = HUB_DIR / 'repo2docker'
R2D_SPEC = 'jupyter-repo2docker>=2024.7'


def ensure_repo2docker(log=print):
    """repo2docker in an environment of its own (.hub/repo2docker): with --no-build it reads
    binder/ and writes the Dockerfile it would build, no Docker engine needed."""
    exe = R2D_VENV / 'bin' / 'jupyter-repo2docker'
    stamp = R2D_VENV / '.installed'
    if not (exe.exists() and stamp.is_file() and stamp.read_text() == R2D_SPEC):
        log('hub test: installing repo2docker into .hub/repo2docker')
        if not (R2D_VENV / 'bin' / 'python').exists():
            _run([sys.executable, '-m', 'venv', str(R2D_VENV)], 'creating .hub/repo2docker',
                 'install python3-venv (apt-get install python3-venv)', reachable=lambda: False)
        _run([str(R2D_VENV / 'bin' / 'python'), '-m', 'pip', 'install', '-q', '--disable-pip-version-check',
              R2D_SPEC], f'pip install {R2D_SPEC}', 'PyPI must be reachable', reachable=_pypi_reachable)
        stamp.write_text(R2D_SPEC)
    return exe


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


CONFIG = '''\
# written by tests/hub/hubkit.py: a class of students on one machine
import os
c = get_config()  # noqa
c.JupyterHub.bind_url = 'http://127.0.0.1:{port}'
c.JupyterHub.hub_bind_url = 'http://127.0.0.1:{hub_port}'
c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{api_port}'
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.ConfigurableHTTPProxy.auth_token = {proxy_token!r}
c.JupyterHub.db_url = 'sqlite:///{tmp}/jupyterhub.sqlite'
c.JupyterHub.cookie_secret_file = '{tmp}/cookie_secret'
c.JupyterHub.pid_file = '{tmp}/jupyterhub.pid'
c.JupyterHub.authenticator_class = 'dummy'
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {{'teacher'}}
# no Unix users: each student still gets a home and a notebook folder of their own
c.JupyterHub.spawner_class = 'simple'
c.SimpleLocalProcessSpawner.home_dir_template = '{tmp}/home/{{username}}'
c.Spawner.notebook_dir = '{tmp}/home/{{username}}'
c.Spawner.cmd = [{start!r}, {singleuser!r}]
c.Spawner.args = {args!r}
c.Spawner.default_url = '/lab/tree/autodiff-lite/notebooks/01_chain_rule.ipynb'
c.Spawner.environment = {environment!r}
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
c.JupyterHub.services = [{{'name': 'course-test', 'api_token': {service_token!r}}}]
c.JupyterHub.load_roles = [{{
    'name': 'course-test', 'services': ['course-test'],
    'scopes': ['admin:users', 'admin:servers', 'tokens', 'list:users', 'read:users'],
}}]
'''


class Hub:
    """`with Hub() as hub:` a running hub; on leaving, every process it started is gone."""

    def __init__(self, extra_env=None, log=print):
        self.run_id = uuid.uuid4().hex
        self.tmp = Path(tempfile.mkdtemp(prefix='autodiff-hub-'))
        self.port, self.hub_port, self.api_port = free_port(), free_port(), free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self.service_token = secrets.token_hex(24)
        self.extra_env = extra_env or {}
        self.log = log
        self.proc = None

    def home(self, user):
        return self.tmp / 'home' / user

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        env_path = f'{VENV / "bin"}:/usr/local/bin:/usr/bin:/bin'
        environment = {'PATH': env_path, MARKER: self.run_id, 'AUTODIFF_LITE_SOURCE': str(ROOT), **self.extra_env}
        (self.tmp / 'home').mkdir()
        config = CONFIG.format(
            port=self.port, hub_port=self.hub_port, api_port=self.api_port, proxy=str(CHP),
            proxy_token=secrets.token_hex(24), tmp=self.tmp, password=PASSWORD,
            start=str(ROOT / 'binder' / 'start'), singleuser=str(VENV / 'bin' / 'jupyterhub-singleuser'),
            args=['--allow-root'] if os.getuid() == 0 else [], environment=environment,
            service_token=self.service_token)
        (self.tmp / 'jupyterhub_config.py').write_text(config)
        self.logfile = open(self.tmp / 'jupyterhub.log', 'w')
        env = {**os.environ, MARKER: self.run_id, 'PATH': f'{VENV / "bin"}:{os.environ["PATH"]}'}
        env.pop('JUPYTERHUB_API_TOKEN', None)
        self.proc = subprocess.Popen(
            [str(VENV / 'bin' / 'jupyterhub'), '-f', str(self.tmp / 'jupyterhub_config.py')],
            cwd=self.tmp, env=env, stdout=self.logfile, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f'jupyterhub exited with {self.proc.returncode}:\n{self.log_tail()}')
            try:
                if requests.get(f'{self.url}/hub/api/', timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f'jupyterhub did not answer on {self.url} within 60 s:\n{self.log_tail()}')

    def log_tail(self, n=40):
        try:
            return '\n'.join((self.tmp / 'jupyterhub.log').read_text().splitlines()[-n:])
        except OSError:
            return '(no log)'

    def processes(self):
        """Every live process this hub started (hub, proxy, single-user servers, kernels)."""
        import psutil
        mine = []
        for p in psutil.process_iter(['pid']):
            try:
                if p.environ().get(MARKER) == self.run_id:
                    mine.append(p)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass
        return mine

    def stop(self):
        import psutil
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)         # the hub stops its servers and its proxy
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        left = self.processes()
        for p in left:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(left, timeout=10)
        if getattr(self, 'logfile', None):
            self.logfile.close()
        if os.environ.get('AUTODIFF_LITE_HUB_KEEP'):
            self.log(f'hub test: kept {self.tmp}')
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # --- the hub's REST API, as the course-test service --------------------------------

    def api(self, method, path, **kw):
        r = requests.request(method, f'{self.url}/hub/api{path}',
                             headers={'Authorization': f'token {self.service_token}'}, timeout=30, **kw)
        r.raise_for_status()
        return r.json() if r.content else None

    def wait_ready(self, user, timeout=180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api('GET', f'/users/{user}')
            server = model.get('servers', {}).get('')
            if server and server.get('ready'):
                return
            if not model.get('pending') and not server and self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"{user}'s server is not ready after {timeout} s:\n{self.log_tail()}")

    def token_for(self, user):
        return self.api('POST', f'/users/{user}/tokens', json={'note': 'course test', 'expires_in': 3600})['token']


class Student:
    """One student: logs in through the hub's form, then talks to their own server."""

    def __init__(self, hub, name):
        self.hub, self.name = hub, name
        self.web = requests.Session()
        self.token = None

    def login(self):
        """The login form, as a browser sends it; the hub then spawns the student's server."""
        page = self.web.get(f'{self.hub.url}/hub/login', timeout=30)
        page.raise_for_status()
        r = self.web.post(f'{self.hub.url}/hub/login?next=', timeout=180, allow_redirects=False,
                          data={'username': self.name, 'password': PASSWORD,
                                '_xsrf': self.web.cookies.get('_xsrf', '')})
        if r.status_code != 302:
            raise RuntimeError(f'{self.name}: login answered {r.status_code}, not a redirect: {r.text[:300]}')
        # the browser follows to /hub/spawn, which starts the server
        self.web.get(f'{self.hub.url}/hub/spawn/{self.name}', timeout=180, allow_redirects=False)
        self.hub.wait_ready(self.name)
        self.token = self.hub.token_for(self.name)

    @property
    def base(self):
        return f'{self.hub.url}/user/{self.name}'

    def request(self, method, path, token=None, **kw):
        return requests.request(method, f'{self.base}{path}', timeout=60, allow_redirects=False,
                                headers={'Authorization': f'token {token or self.token}'}, **kw)

    def get_notebook(self, path):
        r = self.request('GET', f'/api/contents/{path}?content=1&type=notebook')
        r.raise_for_status()
        return r.json()['content']

    def put_notebook(self, path, nb):
        r = self.request('PUT', f'/api/contents/{path}', json={'type': 'notebook', 'format': 'json', 'content': nb})
        r.raise_for_status()

    def kernel(self, notebook_path):
        """A kernel as JupyterLab starts one: a session on the notebook (cwd = its folder)."""
        r = self.request('POST', '/api/sessions', json={
            'path': notebook_path, 'name': Path(notebook_path).name, 'type': 'notebook',
            'kernel': {'name': 'python3'}})
        r.raise_for_status()
        return Kernel(self, r.json()['kernel']['id'])


class CellError(Exception):
    pass


class Kernel:
    """Executes code on a student's kernel through the server's websocket channels."""

    def __init__(self, student, kernel_id):
        import websocket
        self.student, self.id = student, kernel_id
        url = student.base.replace('http://', 'ws://') + f'/api/kernels/{kernel_id}/channels'
        self.session = uuid.uuid4().hex
        self.ws = websocket.create_connection(url, timeout=120,
                                              header=[f'Authorization: token {student.token}'])
        self.wait_ready()

    def _recv(self):
        """The next JSON message; binary frames (comm messages with buffers, widgets) are skipped."""
        while True:
            raw = self.ws.recv()
            if isinstance(raw, str):
                return json.loads(raw)

    def _send(self, msg_type, content, channel='shell'):
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            'header': {'msg_id': msg_id, 'username': self.student.name, 'session': self.session,
                       'msg_type': msg_type, 'version': '5.3'},
            'parent_header': {}, 'metadata': {}, 'content': content, 'channel': channel}))
        return msg_id

    def wait_ready(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg_id = self._send('kernel_info_request', {})
            self.ws.settimeout(2)
            try:
                while True:
                    msg = self._recv()
                    if msg.get('parent_header', {}).get('msg_id') == msg_id and msg['msg_type'] == 'kernel_info_reply':
                        self.ws.settimeout(120)
                        return
            except Exception:          # no reply yet: the kernel is still starting
                continue
        raise RuntimeError(f'{self.student.name}: kernel not ready after {timeout} s')

    def execute(self, code, timeout=120, on_output=None, allow_error=False):
        """Run code; the outputs (nbformat-like dicts). An error raises CellError unless allowed."""
        msg_id = self._send('execute_request', {'code': code, 'silent': False, 'store_history': True,
                                                'user_expressions': {}, 'allow_stdin': False,
                                                'stop_on_error': True})
        outputs, deadline = [], time.monotonic() + timeout
        self.ws.settimeout(timeout)
        while time.monotonic() < deadline:
            msg = self._recv()
            if msg.get('parent_header', {}).get('msg_id') != msg_id or msg.get('channel') != 'iopub':
                continue
            kind, content = msg['msg_type'], msg['content']
            if kind in ('stream', 'display_data', 'execute_result', 'error'):
                out = dict(content, output_type=kind)
                outputs.append(out)
                if on_output:
                    on_output(out)
            elif kind == 'status' and content['execution_state'] == 'idle':
                errors = [o for o in outputs if o['output_type'] == 'error']
                if errors and not allow_error:
                    e = errors[0]
                    raise CellError(f"{self.student.name}: {e['ename']}: {e['evalue']}\nin:\n{code[:400]}")
                return outputs
        raise CellError(f'{self.student.name}: no answer in {timeout} s to:\n{code[:400]}')

    def close(self):
        try:
            self.ws.close()
        finally:
            self.student.request('DELETE', f'/api/kernels/{self.id}')


def text_of(outputs):
    return ''.join(o.get('text', '') for o in outputs if o['output_type'] == 'stream')


def code_cells(nb):
    return [c for c in nb['cells'] if c['cell_type'] == 'code']


def expects_error(cell):
    """A lesson's deliberate-error cell: nbval's marker or JupyterLab's tag."""
    first = cell['source'].lstrip().splitlines()[:1]
    return ('raises-exception' in cell.get('metadata', {}).get('tags', [])
            or first == ['# NBVAL_RAISES_EXCEPTION'])


def memory_of(process):
    """(rss, pss) bytes of a process and all its children (a server with its kernels)."""
    import psutil
    rss = pss = 0
    for p in [process] + process.children(recursive=True):
        try:
            info = p.memory_full_info()
            rss += info.rss
            pss += info.pss
        except psutil.NoSuchProcess:
            pass
    return rss, pss


def cpu_of(process):
    """CPU seconds (user + system) of a process, its live children, and the children it has
    waited for (for a server started through binder/start: the hook's own python and tar)."""
    import psutil
    t = process.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for p in process.children(recursive=True):
        try:
            c = p.cpu_times()
            total += c.user + c.system
        except psutil.NoSuchProcess:
            pass
    return total


def student_servers(hub):
    """{user: psutil.Process} of the single-user servers this hub runs."""
    out = {}
    for p in hub.processes():
        try:
            if any('jupyterhub-singleuser' in part for part in p.cmdline()):
                out[p.environ().get('JUPYTERHUB_USER')] = p
        except Exception:
            pass
    return out

