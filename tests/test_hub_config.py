"""binder/ as repo2docker reads it, and the start-up hook every student's server runs.

Fast (no hub): the hook is run on a fake home. The hub itself is tested in
tests/hub/ (`make test-hub`).
"""
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / 'binder'
START = BINDER / 'start'


def _names(lines):
    out = set()
    for line in lines:
        line = line.split('#', 1)[0].strip()
        if line:
            out.add(re.split(r'[\[<>=!~ ;]', line, maxsplit=1)[0].lower().replace('_', '-'))
    return out


def test_binder_requirements_hold_what_the_package_needs():
    pyproject = tomllib.loads((ROOT / 'pyproject.toml').read_text())
    student = _names((ROOT / 'requirements.txt').read_text().splitlines())    # what `make lab` installs
    needed = _names(pyproject['project']['dependencies']) | student | {'jupyterlab', 'ipykernel'}
    lines = (BINDER / 'requirements.txt').read_text().splitlines()
    missing = needed - _names(lines)
    assert not missing, (f'binder/requirements.txt lacks {sorted(missing)} (pyproject.toml or requirements.txt '
                         'needs them): add them there too')
    # no local references (-r, -e ., paths): repo2docker can then install them before
    # copying the repository, and cache that layer across course edits
    local = [l for l in lines if l.strip().startswith(('-', '.', '/'))]
    assert not local, f'binder/requirements.txt has local references {local}: install the course in postBuild'


def test_binder_scripts_are_executable_and_shaped_as_repo2docker_expects():
    for name in ('postBuild', 'start'):
        path = BINDER / name
        assert os.access(path, os.X_OK), f'binder/{name} is not executable (git update-index --chmod=+x)'
        assert path.read_text().startswith('#!/bin/bash\n')
    assert 'pip install' in (BINDER / 'postBuild').read_text() and ' -e .' in (BINDER / 'postBuild').read_text()
    last = [l for l in START.read_text().splitlines() if l.strip()][-1]
    assert last == 'exec "$@"', 'repo2docker: the last line of binder/start must be exec "$@"'
    assert re.fullmatch(r'python-3\.\d+\n?', (BINDER / 'runtime.txt').read_text())


needs_workcopy = pytest.mark.skipif(
    subprocess.run([sys.executable, '-c', 'import autodiff_lite.workcopy'], capture_output=True).returncode != 0,
    reason='autodiff_lite.workcopy (the work-copy module, from the path branch) is not on this branch yet')


def run_start(home, *cmd, env=None, source=ROOT):
    env = {'PATH': f'{Path(sys.executable).parent}:/usr/bin:/bin', 'HOME': str(home),
           'AUTODIFF_LITE_SOURCE': str(source), **(env or {})}
    return subprocess.run(['bash', str(START), *cmd], env=env, capture_output=True, text=True, timeout=60)


@needs_workcopy
def test_first_start_gives_the_course_and_work_copies_then_runs_the_server(tmp_path):
    r = run_start(tmp_path, 'echo', 'server started')
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == 'server started'
    course = tmp_path / 'autodiff-lite'
    exercises = sorted(p.name for p in (ROOT / 'exercises').glob('*.ipynb'))
    assert exercises and sorted(p.name for p in (course / 'work').glob('*.ipynb')) == exercises
    assert (course / 'notebooks' / '01_chain_rule.ipynb').is_file()
    assert not (course / '.venv').exists() and not (course / '.git').exists()


@needs_workcopy
def test_later_starts_keep_the_students_work_and_bring_what_is_new(tmp_path):
    source = tmp_path / 'image-course'
    for part in ('notebooks', 'exercises', 'solutions'):      # the course as an image holds it
        shutil.copytree(ROOT / part, source / part)
    home = tmp_path / 'home'
    home.mkdir()
    assert run_start(home, 'true', source=source).returncode == 0
    course = home / 'autodiff-lite'
    work = course / 'work' / '01_chain_rule.ipynb'
    work.write_text(work.read_text().replace('NotImplementedError', 'NotImplementedError  # mine'))
    lesson = course / 'notebooks' / '02_computational_graphs.ipynb'
    lesson.write_text(lesson.read_text() + ' ')                          # a student's scribble
    # the teacher's image gains an exercise and changes a lesson
    (source / 'exercises' / '99_new.ipynb').write_text((source / 'exercises' / '01_chain_rule.ipynb').read_text())
    (source / 'notebooks' / '02_computational_graphs.ipynb').write_text('{}')
    r = run_start(home, 'true', source=source)
    assert r.returncode == 0, r.stderr
    assert '# mine' in work.read_text(), "a later start replaced the student's work copy"
    assert lesson.read_text().endswith(' '), "a later start replaced the student's lesson"
    assert (course / 'work' / '99_new.ipynb').is_file(), 'a new exercise did not reach work/'


def test_a_source_that_is_not_the_course_is_named_with_the_fix(tmp_path):
    r = run_start(tmp_path, 'echo', 'server started', source=tmp_path)
    assert r.returncode == 1 and 'server started' not in r.stdout
    assert f'{tmp_path} holds no exercises/ and notebooks/' in r.stderr
    assert 'fix: set AUTODIFF_LITE_SOURCE to the course folder' in r.stderr
    r = run_start(tmp_path, 'true', source=tmp_path / 'nowhere')
    assert r.returncode == 1 and 'nowhere is not a folder' in r.stderr


def test_an_environment_without_the_course_package_is_named_with_the_fix(tmp_path):
    if subprocess.run(['/usr/bin/python3', '-c', 'import autodiff_lite'], capture_output=True).returncode == 0:
        pytest.skip('the system python3 has autodiff_lite: no python without it to try')
    source = tmp_path / 'course'                       # lessons and exercises, no package
    for part in ('notebooks', 'exercises'):
        shutil.copytree(ROOT / part, source / part)
    home = tmp_path / 'home'
    home.mkdir()
    r = run_start(home, 'true', source=source, env={'PATH': '/usr/bin:/bin'})
    assert r.returncode == 1
    assert 'cannot import autodiff_lite.workcopy' in r.stderr and 'fix: in the image: pip install -e' in r.stderr


def test_an_unwritable_home_is_named_with_the_fix(tmp_path):
    blocker = tmp_path / 'autodiff-lite'
    blocker.write_text('a file where the course should go')
    r = run_start(tmp_path, 'true')
    assert r.returncode == 1 and f'cannot write to {blocker}' in r.stderr and 'AUTODIFF_LITE_HOME' in r.stderr


@needs_workcopy
def test_the_python_beside_the_server_command_is_used(tmp_path):
    # PATH has no python with the course; the command's own folder does (as in TLJH's /opt/tljh/user/bin)
    server = Path(sys.executable).parent / 'python3'
    r = run_start(tmp_path, str(server), '-c', 'print("server started")', env={'PATH': '/nowhere:/usr/bin:/bin'})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == 'server started'
    assert (tmp_path / 'autodiff-lite' / 'work' / '01_chain_rule.ipynb').is_file()


@needs_workcopy
def test_a_graded_class_gets_no_solutions(tmp_path):
    r = run_start(tmp_path, 'true', env={'AUTODIFF_LITE_SOLUTIONS': 'omit'})
    assert r.returncode == 0, r.stderr
    course = tmp_path / 'autodiff-lite'
    assert (course / 'work' / '01_chain_rule.ipynb').is_file() and (course / 'exercises').is_dir()
    assert not (course / 'solutions').exists()
    (tmp_path / 'other').mkdir()
    r = run_start(tmp_path / 'other', 'true', env={'AUTODIFF_LITE_SOLUTIONS': 'no'})
    assert r.returncode == 1 and 'AUTODIFF_LITE_SOLUTIONS=no is neither copy nor omit' in r.stderr


@needs_workcopy
def test_on_binder_the_repository_is_the_home_and_work_is_made_in_place(tmp_path):
    home = tmp_path / 'jovyan'                  # repo2docker copies the repository into $HOME
    for part in ('notebooks', 'exercises'):
        shutil.copytree(ROOT / part, home / part)
    r = run_start(home, 'true', source=home)
    assert r.returncode == 0, r.stderr
    assert (home / 'work' / '01_chain_rule.ipynb').is_file()
    assert not (home / 'autodiff-lite').exists()


def test_the_teachers_snippets_parse():
    """The YAML, Python and shell blocks of docs/hub.md are at least well formed."""
    import yaml
    text = (ROOT / 'docs' / 'hub.md').read_text()
    blocks = re.findall(r'```(\w+)\n(.*?)```', text, re.S)
    kinds = {kind for kind, _ in blocks}
    assert {'yaml', 'bash'} <= kinds
    for kind, body in blocks:
        if kind == 'yaml':
            values = yaml.safe_load(body)
            assert values['singleuser']['defaultUrl'].endswith('/notebooks/01_chain_rule.ipynb')
        elif kind == 'bash':
            r = subprocess.run(['bash', '-n'], input=body, capture_output=True, text=True)
            assert r.returncode == 0, f'docs/hub.md bash block does not parse: {r.stderr}\n{body}'
            for config in re.findall(r"<<'EOF'\n(.*?)\nEOF", body, re.S):   # the jupyterhub_config.d file
                compile(config, 'autodiff-lite.py', 'exec')
    # the notebook the hub opens on exists
    assert (ROOT / 'notebooks' / '01_chain_rule.ipynb').is_file()
