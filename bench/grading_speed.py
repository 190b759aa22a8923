"""Grading speed, from the command line, as a teacher runs it (sandbox and both processes included).

    .venv/bin/python bench/grading_speed.py [N_NOTEBOOKS]

1. one five-exercise notebook (solutions/01_chain_rule.ipynb graded as a submission), five
   runs of `python -m autodiff_lite.grading grade NB`, wall time each and the median;
2. a class of N honest notebooks (default 100, copies of the same) at --jobs 2, wall time.
Not part of `make test`: speed is measured here, never asserted in a unit test.
"""
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def run(args):
    start = time.perf_counter()
    out = subprocess.run([PY, '-m', 'autodiff_lite.grading'] + args, cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - start, out


def main(n=100):
    nb = ROOT / 'solutions' / '01_chain_rule.ipynb'
    times = []
    for _ in range(5):
        seconds, out = run(['grade', str(nb)])
        assert 'total       10/10' in out.stdout, out.stdout + out.stderr
        times.append(seconds)
    print(f'one notebook (5 exercises), CLI wall time: ' + ', '.join(f'{t:.2f}' for t in times)
          + f' s; median {statistics.median(times):.2f} s')
    tmp = Path(tempfile.mkdtemp(prefix='grading-speed-'))
    try:
        for i in range(n):
            (tmp / 'class' / f'student{i:03d}').mkdir(parents=True)
            shutil.copy(nb, tmp / 'class' / f'student{i:03d}' / nb.name)
        seconds, out = run(['grade', '--class', str(tmp / 'class'), '--jobs', '2', '--json', str(tmp / 'out.json')])
        full = out.stdout.count('total       10/10')
        print(f'{n} honest notebooks at --jobs 2: {seconds:.1f} s wall ({seconds / n:.2f} s per notebook), '
              f'{full} of {n} at full marks')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main(*map(int, sys.argv[1:]))
