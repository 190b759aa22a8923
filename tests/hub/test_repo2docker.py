"""binder/ as repo2docker itself reads it (PyPI jupyter-repo2docker, --no-build: the
Dockerfile it would build, written without a Docker engine).

Runs in `make test-hub`; skips, saying why, when repo2docker cannot be installed.
"""
import os
import subprocess

import pytest

import hubkit

pytestmark = pytest.mark.skipif(
    os.environ.get('AUTODIFF_LITE_HUB_TEST') != '1',
    reason='runs in `make test-hub` (repo2docker in .hub/repo2docker); AUTODIFF_LITE_HUB_TEST=1 runs it here')


@pytest.fixture(scope='module')
def build_plan():
    try:
        exe = hubkit.ensure_repo2docker()
    except hubkit.Unavailable as why:
        pytest.skip(f'repo2docker check skipped: {why}')
    # as docs/hub.md builds the Zero to JupyterHub image: the course outside the home folder
    r = subprocess.run([str(exe), '--no-build', '--no-run', '--debug', '--user-id', '1000',
                        '--user-name', 'jovyan', '--target-repo-dir', '/srv/autodiff-lite', str(hubkit.ROOT)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout + r.stderr


def line_of(plan, text):
    lines = plan.splitlines()
    found = [i for i, line in enumerate(lines) if text in line]
    assert found, f'the Dockerfile repo2docker writes has no line with {text!r}'
    return found[0]


def test_repo2docker_takes_python_from_runtime_txt(build_plan):
    assert 'python=3.11' in build_plan


def test_requirements_install_before_the_repository_is_copied(build_plan):
    # no local references in binder/requirements.txt: its layer is cached across course edits
    install = line_of(build_plan, 'pip install --no-cache-dir -r "binder/requirements.txt"')
    copy = line_of(build_plan, 'COPY --chown=1000:1000 src/ ${REPO_DIR}/')
    assert install < copy
    assert '-r "requirements.txt"' not in build_plan, 'the root requirements.txt must be ignored (binder/ wins)'


def test_postbuild_runs_after_the_copy_and_start_is_the_entrypoint(build_plan):
    copy = line_of(build_plan, 'COPY --chown=1000:1000 src/ ${REPO_DIR}/')
    assert line_of(build_plan, './binder/postBuild') > copy
    assert 'R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in build_plan
