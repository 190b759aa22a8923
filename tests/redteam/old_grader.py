"""The same attacks against the grader before the sandbox (commit 41ec1c8), for comparison.

    .venv/bin/python tests/redteam/old_grader.py [COMMIT]

Runs in a throw-away copy: the old package from git (its grader, build and
kernel), with today's checks/probes/wire so that the fixture's test cells run,
and a copy of the fixture solutions. Nothing in the repository is touched,
except by an attack that escapes the old grader's kernel: those that would
harm this shared machine (killing every process, a fork bomb, a memory bomb,
writing into the venv) are not run, and say so. Prints one line per attack:
its legitimate score and what the old grader gave it.
"""
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import attacks  # noqa: E402

NOT_RUN = {'kill-everyone': 'kills every process on the machine (no PID namespace)',
           'kill-grader': 'kills the grader and pid 1 of this machine',
           'fork-bomb': 'no process limit: would exhaust the shared machine',
           'memory-bomb': 'no memory limit: would exhaust the shared machine',
           'venv-sitecustomize': "writes into the real venv's site-packages",
           'teacher-anywhere': 'walks the whole file system'}


def main(commit='41ec1c8'):
    tmp = Path(tempfile.mkdtemp(prefix='old-grader-'))
    try:
        subprocess.run(f'git -C {attacks.ROOT} archive {commit} autodiff_lite | tar x -C {tmp}', shell=True,
                       check=True)
        for name in ('checks.py', 'probes.py', 'wire.py', '__init__.py'):
            shutil.copy(attacks.ROOT / 'autodiff_lite' / 'grading' / name, tmp / 'autodiff_lite' / 'grading' / name)
        solutions = tmp / 'tests' / 'fixtures' / 'grading' / 'solutions'
        solutions.mkdir(parents=True)
        shutil.copy(attacks.FIXTURES / attacks.NB, solutions / attacks.NB)
        (tmp / 'autodiff_lite' / 'grading' / 'checks.py').write_text(
            (tmp / 'autodiff_lite' / 'grading' / 'checks.py').read_text())
        rows = []
        for name in list(attacks.A) + ['honest']:
            if name in NOT_RUN:
                continue
            rows.append(_one(tmp, solutions, name))
        import json  # noqa: F401
        scored = damaged = crashed = 0
        for name, points, later, error, honest, outlived in rows:
            legit = attacks.A.get(name, {}).get('legit', 3)
            flags = [f for f, on in (('SCORED', points > legit), ('LATER-WRONG-SCORED', later),
                                     ('LATER-HONEST-HURT', honest < 3), (f'{outlived}-PROCESSES-OUTLIVED', outlived),
                                     ('CRASHED-BATCH', 'CRASHED' in str(error))) if on]
            scored += points > legit
            damaged += bool(later or honest < 3 or outlived)
            crashed += 'CRASHED' in str(error)
            print(f'{name:26} legit {legit}  old {points}/3  {" ".join(flags)}')
        for name, why in NOT_RUN.items():
            print(f'{name:26} not run on the old grader: {why}')
        print(f'old grader: {scored} of {len(rows) - 1} attacks scored more than they solved; {damaged} did lasting '
              f'damage (a later notebook scored or lost points, or processes outlived grading); {crashed} crashed '
              'the batch (no JSON for anyone)')
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _kill_marked():
    """How many processes an attack left behind (they carry attacks.MARKER); ends them."""
    import os
    found = 0
    for pid in os.listdir('/proc'):
        try:
            if pid.isdigit() and attacks.MARKER.encode() in Path(f'/proc/{pid}/cmdline').read_bytes():
                os.kill(int(pid), 9)
                found += 1
        except OSError:
            pass
    return found


def _one(base, solutions, name):
    """(name, points, whether a wrong classmate graded next in the same place scored, error)."""
    import json
    tmp = Path(tempfile.mkdtemp(prefix='old-one-'))
    try:
        shutil.copytree(base / 'autodiff_lite', tmp / 'autodiff_lite')
        sol = tmp / 'tests' / 'fixtures' / 'grading' / 'solutions'
        shutil.copytree(solutions, sol)
        code = f'''
import sys, json, pathlib
sys.path.insert(0, {str(tmp)!r})
sys.path.insert(0, {str(Path(__file__).parent)!r})
import autodiff_lite.grading.checks as checks
checks.CHECKERS = ('check_close', 'check_grads', 'check_topo_order', 'check_raises', 'check_true')
from autodiff_lite.grading.grader import grade
import attacks
name = {name!r}
root = pathlib.Path({str(tmp)!r}) / 'class'
if name == 'honest':
    path = attacks.write_submission(root / name, attacks.SOLVED)
else:
    a = attacks.A[name]
    path = attacks.write_submission(root / name, a['answers'], a['writer'])
try:
    rep = grade([path], {str(sol)!r}, timeout=3, jobs=1)[0]
    points, error = rep['points'], rep.get('error')
except BaseException as err:
    points, error = 0, 'CRASHED THE BATCH (no JSON for anyone): ' + type(err).__name__ + ': ' + str(err)[:60]
wrong = attacks.write_submission(root / 'classmate', {{'ex1-1': '# Exercise 1.1\\n' + attacks.WRONG}})
try:
    later = grade([wrong], {str(sol)!r}, timeout=3, jobs=1)[0]['points']
except BaseException:
    later = 0
honest = attacks.write_submission(root / 'honest-classmate', attacks.SOLVED)
try:
    honest_points = grade([honest], {str(sol)!r}, timeout=3, jobs=1)[0]['points']
except BaseException:
    honest_points = 0
print(json.dumps([name, points, later > 0, error, honest_points]))
'''
        out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp, timeout=120,
                             env={'PATH': '/usr/bin:/bin', 'HOME': str(tmp), 'PYTHONPATH': str(tmp)})
        outlived = _kill_marked()
        try:
            return json.loads(out.stdout.strip().splitlines()[-1]) + [outlived]
        except (ValueError, IndexError):
            return [name, 0, False, 'the old grader crashed: ' + out.stderr.strip()[-80:], 3, outlived]
    except subprocess.TimeoutExpired:
        return [name, 0, False, 'the old grader hung (killed after 120 s)', 3, _kill_marked()]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:]))
