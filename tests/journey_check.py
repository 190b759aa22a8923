"""A student's whole path, from `make lab` to a graded exercise, in JupyterLab in headless Chromium.

    python tests/journey_check.py          # (make test-browser runs it)

In a throwaway copy of the repository (a developer's own work/ is never
touched), with this venv:

1. start JupyterLab with the Makefile's own `make lab` (a free port and a token
   through JUPYTER_PORT / JUPYTER_TOKEN, Jupyter's own browser off by config),
   and check the server's root holds notebooks/, exercises/ and the work/ copies, and
   that the page it sends a browser to is lesson 01;
2. open lesson 01 from the file browser, follow its "Your turn" link to the
   student's copy work/01_chain_rule.ipynb;
3. type a wrong answer to exercise 1.1 (a sign error) with the keyboard, run the
   answer cell and its test cell, and see the hint that names the mistake;
4. type the right answer, see the test pass, save with Ctrl+S;
5. run `make grade` (the Makefile's command line again) and read 1.1 as passed,
   every other exercise as "not solved yet".

Screenshots of each step (and the grade table) go to .browser-check/journey/.
Without chromium or playwright, steps 2-5 are skipped, said clearly (step 1 still runs).
Exit 0 on success, 1 on a failure.
"""
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser_check import (CHROMIUM, FLAGS, api, free_port, tail, wait_until_up,  # noqa: E402  (same set-up)
                           write_settings)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / '.browser-check' / 'journey'
VENV = Path(sys.prefix)
LESSON, EXERCISES = 'notebooks/01_chain_rule.ipynb', 'work/01_chain_rule.ipynb'
ANSWER_ID, TESTS_ID, EXERCISE = 'ex1-1', 'ex1-1-tests', '1.1'
# typed line by line; one-line statements, so the editor's auto-indent has nothing to add
WRONG = ['def central_diff(f, x, h=1e-5): return (f(x + h) - f(x - h)) / (2 * h)',
         'err_central = 12 - central_diff(lambda x: x**3, 2.0, 0.1)',
         'err_central']
RIGHT = WRONG[:1] + ['err_central = abs(central_diff(lambda x: x**3, 2.0, 0.1) - 12)', 'err_central']
# what the hint for the sign error must say (the test cell's exact wording belongs to the grader)
NOT_A_CHECK = {'NameError', 'SyntaxError', 'TypeError', 'NotImplementedError', 'IndentationError'}
SIGN_HINT = re.compile(r'err_central.*(abs|distance|sign)', re.S | re.I)


class JourneyError(Exception):
    pass


def log(msg):
    print(f'journey: {msg}', flush=True)


# --- the throwaway course ------------------------------------------------------------------
def copy_course(dest):
    """The repository's files as they are in the working tree (tracked and new, not ignored):
    what a fresh clone of this state would hold, without the developer's work/ or .venv."""
    try:
        names = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                               cwd=ROOT, check=True, capture_output=True).stdout.decode().split('\0')
    except (OSError, subprocess.CalledProcessError):
        names = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob('*') if p.is_file()
                 and not set(p.relative_to(ROOT).parts[:1]) & {'.git', '.venv', 'work', '.browser-check'}]
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file() and not name.startswith('work/'):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def make(course, target):
    """`make TARGET` with this venv; -o: its install stamp counts as up to date (nothing reinstalled)."""
    return ['make', '--no-print-directory', '-C', str(course), '-o', f'{VENV}/.installed',
            f'VENV={VENV}', target]


def jupyter_env(home, port, token, course):
    config = {'ServerApp': {'open_browser': False, 'ip': '127.0.0.1', 'port_retries': 0},
              'LabApp': {'expose_app_in_browser': True, 'news_url': ''},
              'NotebookNotary': {'data_dir': str(home / 'notary')}}
    for sub in ('config', 'data', 'runtime', 'workspaces', 'ipython', 'mpl', 'notary'):
        (home / sub).mkdir(parents=True, exist_ok=True)
    for name in ('jupyter_server_config.json', 'jupyter_lab_config.json'):
        (home / 'config' / name).write_text(json.dumps(config))
    write_settings(home / 'settings')     # the student saves with Ctrl+S: no autosave
    return dict(os.environ, JUPYTER_PORT=str(port), JUPYTER_TOKEN=token,
                JUPYTER_CONFIG_DIR=str(home / 'config'), JUPYTER_DATA_DIR=str(home / 'data'),
                JUPYTER_RUNTIME_DIR=str(home / 'runtime'), JUPYTERLAB_SETTINGS_DIR=str(home / 'settings'),
                JUPYTERLAB_WORKSPACES_DIR=str(home / 'workspaces'), IPYTHONDIR=str(home / 'ipython'),
                MPLCONFIGDIR=str(home / 'mpl'), PYTHONDONTWRITEBYTECODE='1', BROWSER='true',
                # the copy's package, not the developer's editable install
                PYTHONPATH=os.pathsep.join([str(course)] + [p for p in [os.environ.get('PYTHONPATH')] if p]))


def start_lab(course, env, port, token, home):
    logfile = open(home / 'lab.log', 'wb')
    proc = subprocess.Popen(make(course, 'lab'), stdout=logfile, stderr=subprocess.STDOUT,
                            env=env, cwd=course, start_new_session=True)
    why = wait_until_up(proc, port, token, home / 'lab.log', 'make lab')
    if why:
        raise JourneyError(why)
    return proc


def stop_lab(proc, port, token):
    """Kernels, then the server, politely; then make and the server by their process group
    (the one started here, with start_new_session)."""
    if proc.poll() is None:
        try:
            for k in api(port, token, 'kernels'):
                api(port, token, f'kernels/{k["id"]}', method='DELETE')
            api(port, token, 'shutdown', method='POST')
        except OSError:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        time.sleep(1)


def check_root(port, token):
    """What `make lab` serves: the repository root, with the student's copies in work/."""
    names = {item['name'] for item in api(port, token, 'contents')['content']}
    missing = {'notebooks', 'exercises', 'work'} - names
    if missing:
        raise JourneyError(f'the server root lacks {sorted(missing)} (it lists {sorted(names)}): '
                           'make lab must serve the repository root')
    for path in ('exercises/01_chain_rule.ipynb', EXERCISES, LESSON):
        try:
            api(port, token, f'contents/{path}?content=0')
        except urllib.error.HTTPError as err:
            raise JourneyError(f'/api/contents/{path} answered {err.code}')
    return sorted(names)


def check_first_page(home):
    """The page make lab sends the student's browser to: lesson 01 in the root's tree."""
    pages = sorted((home / 'runtime').glob('jpserver-file-to-run-*-open.html'))
    if not pages:
        raise JourneyError('make lab wrote no page for the browser to open (no notebook given to jupyter lab?)')
    url = re.search(r'url=([^"]+)"', pages[-1].read_text())
    if not url or f'/lab/tree/{LESSON}' not in url[1]:
        raise JourneyError(f'make lab opens {url[1] if url else "nothing"!r}, not /lab/tree/{LESSON}')
    return url[1].split('?')[0]


# --- in the browser --------------------------------------------------------------------------
CURRENT = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!w || !w.context) return null;
  const k = w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return {path: w.context.path, kernel: k ? k.status : 'none', dirty: w.context.model.dirty};
}"""

CELL = """(id) => {
  const w = window.jupyterapp.shell.currentWidget;
  const cells = Array.from(w.content.model.cells);
  const i = cells.findIndex(c => c.id === id);
  if (i < 0) return null;
  const c = cells[i];
  return {index: i, source: c.sharedModel.getSource(), count: c.executionCount,
          outputs: c.type === 'code' ? c.outputs.toJSON() : []};
}"""


class Student:
    def __init__(self, page, shots):
        self.page, self.shots, self.step, self.t0 = page, shots, 0, time.time()

    def shot(self, name):
        self.step += 1
        path = self.shots / f'{self.step:02d}-{name}.png'
        self.page.screenshot(path=str(path))
        log(f'  {time.time() - self.t0:5.1f} s  {path.name}')
        return path

    def wait(self, what, predicate, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = predicate()
            if value:
                return value
            dialog = self.page.locator('.jp-Dialog')
            if dialog.count() and 'Select Kernel' in dialog.first.inner_text():
                self.page.locator('.jp-Dialog .jp-mod-accept').first.click()
            time.sleep(0.25)
        self.shot('failed')
        raise JourneyError(f'waited {timeout} s for {what}; current: {self.page.evaluate(CURRENT)}')

    def in_file_browser(self, name):
        item = self.page.locator('.jp-DirListing-item', has=self.page.locator(
            '.jp-DirListing-itemText', has_text=re.compile(f'^{re.escape(name)}$')))
        self.wait(f'{name!r} in the file browser', lambda: item.count() > 0 and item.first.is_visible())
        return item.first

    def notebook_ready(self, path, kernel=True):
        def ready():
            cur = self.page.evaluate(CURRENT)
            return cur and cur['path'] == path and (cur['kernel'] == 'idle' or not kernel)
        self.wait(f'{path} open' + (' with an idle kernel' if kernel else ''), ready, timeout=90)

    def cell(self, cell_id):
        info = self.page.evaluate(CELL, cell_id)
        if info is None:
            raise JourneyError(f'no cell with id {cell_id!r} in {self.page.evaluate(CURRENT)}')
        return info, self.page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell').nth(info['index'])

    def run_cell(self, cell_id):
        """Click into a cell's editor and run it with Shift+Enter; the cell's state once it ran."""
        info, node = self.cell(cell_id)
        node.scroll_into_view_if_needed()
        node.locator('.cm-content').click()
        before = info['count']
        self.page.keyboard.press('Shift+Enter')
        return self.wait(f'cell {cell_id} to run', lambda: self._ran(cell_id, before))

    def _ran(self, cell_id, before):
        info = self.page.evaluate(CELL, cell_id)
        cur = self.page.evaluate(CURRENT)
        if info['count'] not in (None, before) and cur['kernel'] == 'idle':
            return info
        return None

    def type_answer(self, cell_id, lines):
        info, node = self.cell(cell_id)
        node.scroll_into_view_if_needed()
        node.locator('.cm-content').click()
        self.page.keyboard.press('Control+a')
        self.page.keyboard.press('Delete')
        for k, line in enumerate(lines):
            if k:
                self.page.keyboard.press('Enter')
                self.page.keyboard.press('Home')    # an auto-indent, if any, is not part of the line
                self.page.keyboard.press('Shift+Home')
            self.page.keyboard.type(line)
        typed = self.page.evaluate(CELL, cell_id)['source']
        want = '\n'.join(lines)
        if [ln.strip() for ln in typed.splitlines()] != [ln.strip() for ln in want.splitlines()]:
            raise JourneyError(f'the editor holds {typed!r} after typing {want!r}')


def error_text(info):
    for out in info['outputs']:
        if out.get('output_type') == 'error':
            return f"{out.get('ename')}: {out.get('evalue')}"
    return None


def journey(page, base, token, course, shots):
    me = Student(page, shots)
    page.goto(f'{base}/lab?token={token}&reset', wait_until='domcontentloaded')
    me.wait('JupyterLab to finish loading', lambda: page.evaluate(
        "() => !!window.jupyterapp && !document.querySelector('#jupyterlab-splash')"))
    folder = me.in_file_browser('notebooks')
    for name in ('exercises', 'work'):              # the root, as make lab serves it
        me.in_file_browser(name)
    me.shot('file-browser-at-the-root')
    folder.dblclick()
    me.in_file_browser(Path(LESSON).name).dblclick()
    me.notebook_ready(LESSON, kernel=False)          # read, not run: its kernel may start meanwhile
    me.shot('lesson-01-open')

    # JupyterLab resolves a relative link to /files/<path>?_xsrf=... and opens it in a tab when clicked
    link = page.locator(f'.jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedMarkdown a[href*="/files/{EXERCISES}"]')
    me.wait('the "Your turn" link to the work copy in lesson 01', lambda: link.count() > 0)
    link.first.scroll_into_view_if_needed()
    me.shot('your-turn-link')
    link.first.click()
    me.notebook_ready(EXERCISES)
    me.shot('exercises-open-from-the-link')

    me.run_cell('setup')                                # the imports, as the notebook says first
    me.type_answer(ANSWER_ID, WRONG)
    me.run_cell(ANSWER_ID)
    tests = me.run_cell(TESTS_ID)
    err = error_text(tests)
    # a checker's failure (AssertionError or its subclass CheckFailure), not an error of the code
    if not err or err.split(':')[0] in NOT_A_CHECK or not SIGN_HINT.search(err):
        raise JourneyError(f'after the sign error, the test cell should fail with a hint naming it; got {err!r}')
    log(f'wrong answer: {err.splitlines()[0][:160]}')
    me.cell(TESTS_ID)[1].scroll_into_view_if_needed()
    me.shot('sign-error-hint')

    me.type_answer(ANSWER_ID, RIGHT)
    answer = me.run_cell(ANSWER_ID)
    if error_text(answer):
        raise JourneyError(f'the right answer raised {error_text(answer)}')
    tests = me.run_cell(TESTS_ID)
    if error_text(tests):
        raise JourneyError(f'the right answer should pass its test cell; got {error_text(tests)}')
    me.cell(TESTS_ID)[1].scroll_into_view_if_needed()
    me.shot('right-answer-test-passes')

    page.keyboard.press('Control+s')
    saved = course / EXERCISES
    me.wait('Ctrl+S to save the notebook', lambda: not page.evaluate(CURRENT)['dirty']
            and RIGHT[1] in saved.read_text(encoding='utf-8'), timeout=30)
    me.shot('saved')


def check_grade(course, env, shots):
    """`make grade` on the saved copy: 1.1 passed, every other exercise not solved yet."""
    r = subprocess.run(make(course, 'grade'), env=env, cwd=course, capture_output=True,
                       text=True, timeout=300)
    (shots / 'grade.txt').write_text(r.stdout + r.stderr)
    if r.returncode != 0:
        raise JourneyError(f'make grade exited {r.returncode}:\n{r.stdout[-2000:]}{r.stderr[-2000:]}')
    expected = {}
    for nb in sorted((course / 'exercises').glob('*.ipynb')):
        for c in json.loads(nb.read_text(encoding='utf-8'))['cells']:
            m = re.fullmatch(r'ex(\d+)-(\d+)', c.get('id') or '')
            if m and 'answer' in c.get('metadata', {}).get('tags', []):
                number = f'{m[1]}.{m[2]}'
                expected[number] = 'passed' if number == EXERCISE else 'not solved yet'
    problems = []
    for number, status in expected.items():
        # the table's row (number, points, status), not the message lines printed below the table
        rows = [ln for ln in r.stdout.splitlines()
                if re.match(rf'\s*{re.escape(number)}\s+[\d.]+/[\d.]+\s', ln)]
        if len(rows) != 1 or status not in rows[0].lower() or (
                status == 'passed' and re.search(r'not passed|failed', rows[0].lower())):
            problems.append(f'exercise {number}: expected {status!r}, row {rows!r}')
    if problems:
        raise JourneyError('make grade: ' + '; '.join(problems) + '\n' + r.stdout[-3000:])
    return len(expected)


def browser_missing():
    """Why the browser part cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f'no chromium ({CHROMIUM} not found; apt-get install chromium to run it)'
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return ('the playwright package is not installed (make test installs it from '
                "requirements-dev.txt; never `playwright install`: Debian's chromium is used)")
    return None


def main():
    if shutil.which('make') is None:
        print('journey: skipped: no `make` on PATH (the journey starts JupyterLab with `make lab`)')
        return 0
    missing = browser_missing()
    t0 = time.time()
    tmp = Path(tempfile.mkdtemp(prefix='adl-journey-'))
    course, home = tmp / 'course', tmp / 'home'
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    port, token = free_port(), secrets.token_hex(16)
    proc, ok = None, False
    try:
        copy_course(course)
        env = jupyter_env(home, port, token, course)
        proc = start_lab(course, env, port, token, home)
        log(f'make lab: JupyterLab on 127.0.0.1:{port} in {time.time() - t0:.1f} s; root lists '
            + ', '.join(check_root(port, token)) + f'; opens {check_first_page(home)}')
        if missing:                             # the server part ran; the student's part cannot
            log(f'the browser part is skipped: {missing}')
        else:
            from playwright.sync_api import sync_playwright
            with sync_playwright() as pw:
                browser = pw.chromium.launch_persistent_context(
                    str(home / 'profile'), executable_path=CHROMIUM, headless=True, args=FLAGS,
                    viewport={'width': 1280, 'height': 900})
                try:
                    page = browser.new_page()
                    page.set_default_timeout(60_000)
                    journey(page, f'http://127.0.0.1:{port}', token, course, OUT)
                finally:
                    browser.close()
            stop_lab(proc, port, token)
            n = check_grade(course, env, OUT)
            log(f'make grade: exercise {EXERCISE} passed, the other {n - 1} not solved yet')
        ok = True
    except Exception as err:                    # a failure is reported, never a traceback alone
        log(f'FAIL: {type(err).__name__}: {err}')
        if proc is not None:
            log('make lab output (last lines):\n' + tail(home / 'lab.log', 15))
    finally:
        if proc is not None:
            stop_lab(proc, port, token)
        shutil.rmtree(tmp, ignore_errors=True)
    outcome = 'FAILED' if not ok else 'server part passed, browser part SKIPPED' if missing else 'passed'
    log(f'{outcome} in {time.time() - t0:.0f} s'
        + ('' if missing else f'; screenshots in {OUT.relative_to(ROOT)}/'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
