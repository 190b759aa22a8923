"""Old code against new, side by side: python bench/compare.py OLD_ROOT [NEW_ROOT] [ROUNDS]

Each root is a checkout holding autodiff_lite/ and bench/ (e.g. `git worktree add
/tmp/old main`, or `git archive main autodiff_lite bench | tar -x -C /tmp/old`).
Every round runs both, each in a fresh process, alternating which goes first, and
prints medians and new/old ratios: the micrograd demo step, the chain's forward
and backward ns per op (cyclic GC off: the engine, not the collector), and the
tensor steps (a) and (b) over hand-written numpy. CPU time throughout.
"""
import json
import os
import statistics
import subprocess
import sys

PROBE = r'''
import gc, json, os, statistics, sys, time
for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[var] = '1'
root = sys.argv[1]
sys.path[:0] = [root, os.path.join(root, 'bench')]
import scalar_bench as sb, tensor_bench as tb
from autodiff_lite import Value
from autodiff_lite.nn import MLP

def cpu(fn):
    t = time.process_time(); fn(); return time.process_time() - t

model = MLP(2, [16, 16, 1], seed=1337); sb.ours_step(model, 0)
out = {'demo step ms': 1e3 * statistics.median(cpu(lambda: sb.ours_step(model, 1)) for _ in range(9))}
gc.disable()
fwd, bwd = [], []
for _ in range(5):
    t = time.process_time(); y = Value(1.0)
    for _ in range(100_000):
        y = y * 1.0001 + 0.0001
    t1 = time.process_time(); y.backward(); t2 = time.process_time()
    fwd.append((t1 - t) / 2e5 * 1e9); bwd.append((t2 - t1) / 2e5 * 1e9); del y
gc.enable()
out['chain fwd ns/op'], out['chain bwd ns/op'] = statistics.median(fwd), statistics.median(bwd)
for key in 'ab':
    names, t = tb.measure(tb.NETS[key], budget_s=2.0)
    out[f'tensor ({key}) x hand'] = t[(names[0], 'step')] / t[('hand numpy', 'step')]
print(json.dumps(out))
'''


def main():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    old = sys.argv[1]
    new = sys.argv[2] if len(sys.argv) > 2 else here
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    runs = {'old': [], 'new': []}
    for r in range(rounds):
        for name in (('old', 'new') if r % 2 == 0 else ('new', 'old')):
            done = subprocess.run([sys.executable, '-c', PROBE, old if name == 'old' else new],
                                  capture_output=True, text=True, check=True)
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f'medians of {rounds} interleaved runs: old = {old}, new = {new}')
    for key in runs['old'][0]:
        o = statistics.median(run[key] for run in runs['old'])
        n = statistics.median(run[key] for run in runs['new'])
        print(f'  {key:22} old {o:9.3f}   new {n:9.3f}   new/old {n / o:6.3f}')


if __name__ == '__main__':
    main()
