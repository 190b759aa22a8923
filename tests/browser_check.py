"""Real-browser check: JupyterLab and headless Chromium run the notebooks like a student would.

    python tests/browser_check.py                      # notebooks/*.ipynb + tests/browser_demo.ipynb
    python tests/browser_check.py notebooks/02_computational_graphs.ipynb

For each notebook: open it in JupyterLab, Run All, then check that no cell
failed, every graph output is a rendered SVG (not DOT text), every widget
rendered (no "Loading widget..."), and that dragging the first slider
changes what the kernel computed. A screenshot per notebook goes to
.browser-check/. Exit 0 when all pass (or when /usr/bin/chromium is absent:
skipped, said clearly), 1 on a failure.

Notebooks run from copies in a throwaway folder (nothing is saved back);
cells marked `# NBVAL_RAISES_EXCEPTION` get JupyterLab's `raises-exception`
tag so Run All goes on past them, and `# NBVAL_SKIP` cells are blanked, as
nbval would. The server and the browser started here are stopped by PID.
"""
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
import urllib.request
from pathlib import Path

CHROMIUM = '/usr/bin/chromium'
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / '.browser-check'
DEMO = ROOT / 'tests' / 'browser_demo.ipynb'
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--disable-dev-shm-usage']
NOTEBOOK_TIMEOUT = 300          # seconds for Run All on one notebook
GRAPH_TEXT = ('GraphView(', 'Graph too large to draw', 'Graphviz could not lay out')
HINT = 'to see this graph as a picture'
WIDGET_MIME = 'application/vnd.jupyter.widget-view+json'


def log(msg):
    print(f'browser-check: {msg}', flush=True)


# --- preparing the copies -------------------------------------------------------------
def marker(source):
    """nbval's whole-comment marker on a cell's first line, if any."""
    first = source.lstrip().split('\n', 1)[0].strip()
    return first[1:].strip() if first.startswith('#') else ''


def prepare(nb_path, dest):
    """Copy a notebook, translating nbval markers into what JupyterLab understands."""
    nb = json.loads(Path(nb_path).read_text(encoding='utf-8'))
    for cell in nb.get('cells', []):
        if cell.get('cell_type') != 'code':
            continue
        source = ''.join(cell.get('source', ''))
        tags = cell.setdefault('metadata', {}).setdefault('tags', [])
        mark = marker(source)
        if mark == 'NBVAL_RAISES_EXCEPTION' or 'raises-exception' in tags:
            if 'raises-exception' not in tags:
                tags.append('raises-exception')
        if mark == 'NBVAL_SKIP' or 'nbval-skip' in tags:
            cell['source'] = '# skipped by the browser check (NBVAL_SKIP)\n'
        cell['outputs'], cell['execution_count'] = [], None
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(nb, indent=1), encoding='utf-8')


def write_settings(settings_dir):
    """No autosave (nothing written back), every cell in the DOM, kernel starts unasked, no news."""
    settings = {
        '@jupyterlab/docmanager-extension/plugin.jupyterlab-settings': {'autosave': False},
        '@jupyterlab/notebook-extension/tracker.jupyterlab-settings':
            {'windowingMode': 'none', 'autoStartDefaultKernel': True},
        '@jupyterlab/apputils-extension/notification.jupyterlab-settings':
            {'fetchNews': 'false', 'checkForUpdates': False},
    }
    for rel, value in settings.items():
        path = settings_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value), encoding='utf-8')


# --- the server ---------------------------------------------------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start_server(work, port, token):
    env = dict(os.environ,
               JUPYTER_CONFIG_DIR=str(work / 'config'), JUPYTER_DATA_DIR=str(work / 'data'),
               JUPYTER_RUNTIME_DIR=str(work / 'runtime'), JUPYTERLAB_SETTINGS_DIR=str(work / 'settings'),
               JUPYTERLAB_WORKSPACES_DIR=str(work / 'workspaces'), IPYTHONDIR=str(work / 'ipython'),
               MPLCONFIGDIR=str(work / 'mpl'), PYTHONDONTWRITEBYTECODE='1')
    write_settings(work / 'settings')
    for sub in ('notary', 'config', 'data', 'runtime', 'workspaces', 'ipython', 'mpl'):
        (work / sub).mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', '--ServerApp.ip=127.0.0.1',
           f'--ServerApp.port={port}', '--ServerApp.port_retries=0',
           f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={work / "nb"}',
           '--LabApp.expose_app_in_browser=True', f'--NotebookNotary.data_dir={work / "notary"}',
           '--LabApp.news_url=']
    if hasattr(os, 'geteuid') and os.geteuid() == 0:
        cmd.append('--allow-root')
    logfile = open(work / 'server.log', 'wb')
    proc = subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT, env=env,
                            cwd=work / 'nb', start_new_session=True)
    why = wait_until_up(proc, port, token, work / 'server.log', 'jupyter lab')
    if why:
        stop_server(proc, port, token)
        raise RuntimeError(why)
    return proc


def wait_until_up(proc, port, token, logfile, what, seconds=90):
    """None once the server started as `proc` answers /api/status; else why not (it exited,
    or did not answer in time), with the end of its log."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            return f'{what} exited ({proc.returncode}):\n' + tail(logfile)
        try:
            api(port, token, 'status')
            return None
        except OSError:
            time.sleep(0.5)
    return f'{what}: JupyterLab did not answer within {seconds} s:\n' + tail(logfile)


def api(port, token, path, method='GET'):
    req = urllib.request.Request(f'http://127.0.0.1:{port}/api/{path}', method=method,
                                 headers={'Authorization': f'token {token}'})
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read()
    return json.loads(body) if body else None


def shutdown_kernels(port, token):
    try:
        for k in api(port, token, 'kernels'):
            api(port, token, f'kernels/{k["id"]}', method='DELETE')
    except OSError:
        pass


def stop_server(proc, port, token):
    """Kernels first, then the server: politely, then by its PID (and its own process group)."""
    if proc.poll() is None:
        shutdown_kernels(port, token)
        try:
            api(port, token, 'shutdown', method='POST')
        except OSError:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)   # the group this script created for the server
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=10)
                    break
                except subprocess.TimeoutExpired:
                    continue


def tail(path, n=30):
    try:
        return '\n'.join(Path(path).read_text(errors='replace').splitlines()[-n:])
    except OSError:
        return ''


# --- in the browser ---------------------------------------------------------------------------
WAIT_KERNEL = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!w || !w.sessionContext || !w.content || !w.content.model) return false;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""

DIAGNOSE = """() => {
  const app = window.jupyterapp;
  if (!app) return 'no window.jupyterapp (is expose_app_in_browser on?)';
  const w = app.shell.currentWidget;
  if (!w) return 'no current widget';
  const s = w.sessionContext;
  return `current widget ${w.constructor.name} ${w.title && w.title.label}; session ${s && s.session ? 'yes' : 'no'}; `
    + `kernel ${s && s.session && s.session.kernel ? s.session.kernel.status : 'none'}; dialogs ${document.querySelectorAll('.jp-Dialog').length}`;
}"""

RUN_FROM = """async ([index, ms]) => {
  const app = window.jupyterapp;
  const w = app.shell.currentWidget;
  w.content.activeCellIndex = index;
  w.content.deselectAll();
  const run = app.commands.execute('notebook:run-all-below');
  const timer = new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), ms));
  try { await Promise.race([run, timer]); return 'done'; } catch (e) { return String(e); }
}"""

STATE = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const cells = [];
  let i = 0;
  for (const c of w.content.model.cells) {
    if (c.type === 'code') {
      cells.push({index: i, source: c.sharedModel.getSource(), count: c.executionCount,
                  tags: c.getMetadata('tags') || [], outputs: c.outputs.toJSON()});
    }
    i++;
  }
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  return {cells, kernel: k ? k.status : 'none'};
}"""

DOM = """() => {
  const q = (s, r) => Array.from((r || document).querySelectorAll(s));
  const svgOutputs = q('.jp-OutputArea-output[data-mime-type="image/svg+xml"]');
  const drawn = o => o.querySelector('svg g.node') ||
    q('img', o).some(img => img.complete && img.naturalWidth > 0);
  return {
    svg: svgOutputs.length,
    svgDrawn: svgOutputs.filter(drawn).length,
    widgetsDrawn: q('.jp-OutputArea-output > .jupyter-widgets').length,
    loading: q('.jp-OutputArea-output').filter(o => /Loading widget|Error displaying widget/.test(o.innerText)).length,
    graphsInWidgets: q('.adl-graph svg g.node').length,
    textGraphsInWidgets: q('.adl-graph pre').length,
  };
}"""

KERNEL_OUTPUT = """(el) => {
  const area = el.closest('.jp-OutputArea-output');
  return Array.from(area.querySelectorAll('.widget-html-content, .widget-image img, img'))
    .map(e => e.innerHTML || e.getAttribute('src') || '').join('\\n');
}"""


def check_notebook(context, base, token, rel, port):
    """Open, run all, check; returns (list of problems, notes)."""
    problems, notes = [], []
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f'{base}/lab/tree/{rel}?token={token}&reset', wait_until='domcontentloaded')
        start = time.time()
        while time.time() - start < 120:
            dialog = page.locator('.jp-Dialog')
            if dialog.count():
                if 'Error' in dialog.first.inner_text():     # e.g. File Load Error: do not wait
                    break
                page.locator('.jp-Dialog .jp-mod-accept').first.click()   # e.g. Select Kernel
            if page.evaluate(WAIT_KERNEL):
                break
            time.sleep(0.5)
        else:
            OUT.mkdir(exist_ok=True)
            page.screenshot(path=str(OUT / (Path(rel).stem + '-failed.png')))
            return [f'kernel did not start within 120 s: {page.evaluate(DIAGNOSE)}'], notes
        state = run_all(page, problems)
        for _ in range(40):                       # widget views render asynchronously
            dom = page.evaluate(DOM)
            if dom['loading'] == 0 and dom['widgetsDrawn'] >= widget_outputs(state['cells']):
                break
            time.sleep(0.5)
        problems += check_outputs(state['cells'], dom)
        notes.append(f"{len(state['cells'])} code cells, {dom['svg']} SVG outputs, "
                     f"{dom['widgetsDrawn']} widgets, {dom['graphsInWidgets']} graph nodes in widgets")
        moved = move_slider(page)
        if moved is None:
            if Path(rel).name == DEMO.name:
                problems.append('the demo notebook shows no slider')
            else:
                notes.append('no slider to move')
        elif moved:
            notes.append('slider moved: kernel output changed')
        else:
            problems.append('moved a slider but the kernel-computed output did not change within 20 s')
        OUT.mkdir(exist_ok=True)
        shot = OUT / (Path(rel).stem + '.png')
        page.screenshot(path=str(shot))
        notes.append(f'screenshot {shot.relative_to(ROOT)}')
    except Exception as err:                       # a page that crashed is a failure, not a traceback
        problems.append(f'{type(err).__name__}: {str(err).splitlines()[0][:300]}')
    finally:
        page.close()
        shutdown_kernels(port, token)
    return problems, notes


def settle(page, deadline, quiet=3.0):
    """Wait until the kernel is idle and the set of cells not yet run has stayed the same
    for `quiet` seconds. Run All's promise can resolve while cells are still queued, and
    the kernel reports idle for a moment between two cells, so one idle poll proves nothing."""
    last, since = None, time.time()
    while True:
        state = page.evaluate(STATE)
        pending = [i for i, c in enumerate(state['cells']) if c['count'] is None and c['source'].strip()]
        if not pending and state['kernel'] == 'idle':
            return state, pending
        if state['kernel'] != 'idle' or pending != last:
            last, since = pending, time.time()
        elif time.time() - since >= quiet or time.time() > deadline:
            return state, pending
        time.sleep(0.25)


def run_all(page, problems):
    """Run every cell, top to bottom. JupyterLab's Run All stops at any error, even in a
    cell tagged raises-exception, so carry on from the next cell after such a one."""
    start, deadline = 0, time.time() + NOTEBOOK_TIMEOUT
    for _ in range(100):
        outcome = page.evaluate(RUN_FROM, [start, max(1, deadline - time.time()) * 1000])
        if outcome != 'done':
            problems.append(f'running the cells did not finish: {outcome}')
        state, pending = settle(page, deadline)
        cells = state['cells']
        if not pending or outcome != 'done' or pending[0] == 0:
            return state
        before = cells[pending[0] - 1]
        expected = 'raises-exception' in before['tags'] and any(
            o.get('output_type') == 'error' for o in before['outputs'])
        if not expected:
            return state               # an unexpected error: check_outputs reports it
        start = cells[pending[0]]['index']
    return state


def check_outputs(cells, dom):
    """What the notebook model says: every cell ran, no unexpected error, graphs are SVG."""
    problems = []
    for cell in cells:
        where = f"cell {cell['index']} ({cell['source'].strip().splitlines()[0][:50] if cell['source'].strip() else 'empty'})"
        if cell['source'].strip() and cell['count'] is None:
            problems.append(f'{where} did not run')
        for out in cell['outputs']:
            if out.get('output_type') == 'error' and 'raises-exception' not in cell['tags']:
                problems.append(f"{where} raised {out.get('ename')}: {str(out.get('evalue'))[:200]}")
            data = out.get('data', {})
            text = data.get('text/plain', '')
            text = ''.join(text) if isinstance(text, list) else text
            if text.startswith(GRAPH_TEXT) and 'image/svg+xml' not in data:
                problems.append(f'{where}: a graph came out as text, not SVG')
            if HINT in text:
                problems.append(f'{where}: a graph fell back to the install hint')
    if dom['svgDrawn'] < dom['svg']:
        problems.append(f"{dom['svg'] - dom['svgDrawn']} SVG outputs not drawn in the page")
    if dom['loading']:
        problems.append(f"{dom['loading']} widget outputs still say 'Loading widget...' or show an error")
    missing = widget_outputs(cells) - dom['widgetsDrawn']
    if missing > 0:
        problems.append(f'{missing} widget outputs not rendered as widgets')
    if dom['textGraphsInWidgets']:
        problems.append(f"{dom['textGraphsInWidgets']} graphs in widgets fell back to DOT text")
    return problems


def widget_outputs(cells):
    return sum(WIDGET_MIME in out.get('data', {}) for c in cells for out in c['outputs'])


def move_slider(page, tries=4):
    """Drag sliders (one per widget) until the kernel-computed output beside one changes.

    True if one did, False if none did, None if there is no slider. Some
    sliders only set an input for later (a learning rate next to a Train
    button), so the first few widgets get a try each.
    """
    handles = page.locator('.jp-OutputArea-output .widget-slider .noUi-handle')
    seen_areas = set()
    tried = 0
    for k in range(handles.count()):
        handle = handles.nth(k)
        area_id = handle.evaluate("""(el) => {
            const a = el.closest('.jp-OutputArea-output');
            a.dataset.adlArea = a.dataset.adlArea || String(Math.random());
            return a.dataset.adlArea; }""")
        if area_id in seen_areas:
            continue
        seen_areas.add(area_id)
        if tried == tries:
            break
        tried += 1
        if drag(page, handle):
            return True
    return None if tried == 0 else False


def drag(page, handle):
    """Drag one slider handle most of the way along its track; did the kernel's output change?"""
    handle.evaluate("(el) => el.closest('.jp-OutputArea-output').scrollIntoView({block: 'start'})")
    time.sleep(0.5)
    before = handle.evaluate(KERNEL_OUTPUT)
    box = handle.bounding_box()
    track = handle.locator('xpath=ancestor::*[contains(@class, "noUi-base")][1]').bounding_box()
    if not box or not track:
        return False
    x, y = box['x'] + box['width'] / 2, box['y'] + box['height'] / 2
    target = track['x'] + 0.8 * track['width']
    if abs(target - x) < 10:
        target = track['x'] + 0.2 * track['width']
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(target, y, steps=8)
    page.mouse.up()
    deadline = time.time() + 20
    while time.time() < deadline:
        time.sleep(0.5)
        if handle.evaluate(KERNEL_OUTPUT) != before:
            return True
    return False


# --- main --------------------------------------------------------------------------------------------
def main(argv):
    if not Path(CHROMIUM).exists():
        print(f'test-browser: skipped: no chromium ({CHROMIUM} not found; '
              f'apt-get install chromium to run the real-browser check)')
        return 0
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print('test-browser: skipped: the playwright package is not installed (pip install playwright; '
              'never `playwright install`: Debian\'s chromium is used)')
        return 0
    paths = [Path(a).resolve() for a in argv] or sorted(ROOT.glob('notebooks/*.ipynb')) + [DEMO]
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f'browser-check: no such notebook: {", ".join(map(str, missing))}')
        return 1
    work = Path(tempfile.mkdtemp(prefix='adl-browser-'))
    rels = []
    for p in paths:
        rel = p.relative_to(ROOT) if p.is_relative_to(ROOT) else Path(p.name)
        prepare(p, work / 'nb' / rel)
        rels.append(rel.as_posix())
    port, token = free_port(), secrets.token_hex(16)
    failures, server = {}, None
    t0 = time.time()
    try:
        server = start_server(work, port, token)
        log(f'JupyterLab up on 127.0.0.1:{port} (pid {server.pid}) in {time.time() - t0:.1f} s')
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(work / 'profile'), executable_path=CHROMIUM, headless=True, args=FLAGS,
                viewport={'width': 1280, 'height': 1000})
            try:
                for rel in rels:
                    t = time.time()
                    problems, notes = check_notebook(context, f'http://127.0.0.1:{port}', token, rel, port)
                    status = 'FAIL' if problems else 'ok'
                    log(f'{status:4} {rel} ({time.time() - t:.1f} s): ' + '; '.join(notes))
                    for p in problems:
                        log(f'     - {p}')
                    if problems:
                        failures[rel] = problems
            finally:
                context.close()
    except Exception as err:
        log(f'FAIL: {type(err).__name__}: {err}')
        failures['(setup)'] = [str(err)]
    finally:
        if server is not None:
            stop_server(server, port, token)
        if failures:
            log('server log (last lines):\n' + tail(work / 'server.log', 15))
        shutil.rmtree(work, ignore_errors=True)
    log(f'{len(rels) - len([r for r in failures if r != "(setup)"])}/{len(rels)} notebooks passed '
        f'in {time.time() - t0:.0f} s' + (f'; screenshots in {OUT.relative_to(ROOT)}/' if OUT.exists() else ''))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
