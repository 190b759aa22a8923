"""Scalar engine benchmark: autodiff_lite vs micrograd vs plain Python floats, side by side.

(a) micrograd's demo training step: 2-16-16-1 ReLU MLP, 100 moons points,
    SVM max-margin loss + 1e-4 L2, SGD; median over repeats, each engine in turn.
(b) a chain y = y*1.0001 + 0.0001 of N steps: forward and backward ns per op.
(c) bytes per graph op (tracemalloc) for a graph of 1e5 ops.
(d) Hessian-vector products: one hvp against one gradient, n = 10, 100, 1000.
"""
import gc
import math
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autodiff_lite import Value, grad, hvp  # noqa: E402
from autodiff_lite.data import make_moons  # noqa: E402
from autodiff_lite.nn import MLP  # noqa: E402

try:
    import micrograd.engine as mg_engine
    import micrograd.nn as mg_nn
except ImportError:          # pip install micrograd
    mg_engine = mg_nn = None

X, Y = make_moons(100, noise=0.1, seed=1)
XS = [[float(a), float(b)] for a, b in X]
YS = [float(2 * v - 1) for v in Y]


def ours_step(model, k):
    scores = [model(x) for x in XS]
    losses = [(1 + -yi * s).relu() for yi, s in zip(YS, scores)]
    data_loss = Value.sum(losses) * (1.0 / len(losses))
    reg_loss = 1e-4 * Value.sum([p * p for p in model.parameters()])
    total = data_loss + reg_loss
    model.zero_grad()
    total.backward()
    lr = 1.0 - 0.9 * k / 100
    for p in model.parameters():
        p.data -= lr * p.grad
    return total.data


def micrograd_step(model, k):
    # micrograd's demo.ipynb, verbatim in substance
    inputs = [list(map(mg_engine.Value, xrow)) for xrow in XS]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * s).relu() for yi, s in zip(YS, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = 1e-4 * sum((p * p for p in model.parameters()))
    total = data_loss + reg_loss
    model.zero_grad()
    total.backward()
    lr = 1.0 - 0.9 * k / 100
    for p in model.parameters():
        p.data -= lr * p.grad
    return total.data


def median_time(fn, repeats):
    times = []
    for k in range(repeats):
        t = time.perf_counter()
        fn(k)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_demo(repeats):
    ours = MLP(2, [16, 16, 1], seed=1337)
    ours_step(ours, 0)
    t_ours = median_time(lambda k: ours_step(ours, k), repeats)
    print(f'(a) demo training step (2-16-16-1, 100 moons, SVM + L2, SGD), median of {repeats}')
    print(f'    autodiff_lite {t_ours * 1e3:8.1f} ms')
    if mg_engine is None:
        print('    micrograd     skipped (pip install micrograd)')
        return
    random.seed(1337)
    theirs = mg_nn.MLP(2, [16, 16, 1])
    micrograd_step(theirs, 0)
    t_mg = median_time(lambda k: micrograd_step(theirs, k), max(3, repeats // 4))
    print(f'    micrograd     {t_mg * 1e3:8.1f} ms')
    print(f'    ratio autodiff_lite / micrograd = {t_ours / t_mg:.3f} ({t_mg / t_ours:.0f}x faster)')


def chain(make, n):
    y = make(1.0)
    x = y
    t0 = time.perf_counter()
    for _ in range(n):
        y = y * 1.0001 + 0.0001
    t1 = time.perf_counter()
    if hasattr(y, 'backward'):
        y.backward()
    t2 = time.perf_counter()
    return (t1 - t0) / (2 * n) * 1e9, (t2 - t1) / (2 * n) * 1e9, x


def bench_chain(sizes):
    print('(b) chain y = y*1.0001 + 0.0001: ns per op, forward / backward')
    print(f"    {'N steps':>9} {'float fwd':>10} {'ours fwd':>9} {'ours bwd':>9} {'micrograd':>22}")
    for n in sizes:
        f_fwd, _, _ = chain(float, n)
        o_fwd, o_bwd, _ = chain(Value, n)
        if mg_engine is None:
            mg = 'skipped'
        else:
            try:
                m_fwd, m_bwd, _ = chain(mg_engine.Value, n)
                mg = f'{m_fwd:8.0f} / {m_bwd:8.0f}'
            except RecursionError:
                mg = 'RecursionError'
        print(f'    {n:>9,} {f_fwd:>10.0f} {o_fwd:>9.0f} {o_bwd:>9.0f} {mg:>22}')
        gc.collect()


def bytes_per_op(make, n_ops):
    gc.collect()
    tracemalloc.start()
    y = make(1.0)
    for _ in range(n_ops // 2):
        y = y * 1.0001 + 0.0001
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del y
    gc.collect()
    return size / n_ops


def bench_memory(n_ops=100_000):
    print(f'(c) bytes per graph op, graph of {n_ops:,} ops (tracemalloc)')
    print(f'    autodiff_lite {bytes_per_op(Value, n_ops):8.0f}')
    if mg_engine is not None:
        print(f'    micrograd     {bytes_per_op(mg_engine.Value, n_ops):8.0f}')


def ring(v):
    """f(v) = sum_i tanh(v_i v_(i+1)) + v_i^2 / 2: a Hessian with three bands."""
    n = len(v)
    return sum((v[i] * v[(i + 1) % n]).tanh() + v[i] * v[i] * 0.5 for i in range(n))


def cpu_median(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return statistics.median(times)


def bench_hvp(sizes=(10, 100, 1000), repeats=7):
    print('(d) one hvp in gradient evaluations (CPU time, medians; target <= 6, flat in n)')
    print(f"    {'n':>6} {'grad ms':>9} {'fwdrev':>8} {'revrev':>8}")
    for n in sizes:
        x = [math.sin(i) for i in range(n)]
        v = [math.cos(i) for i in range(n)]
        g = grad(lambda *xs: ring(xs), tuple(range(n)))
        t_grad = cpu_median(lambda: g(*x), repeats)
        t_fr = cpu_median(lambda: hvp(ring, x, v), repeats)
        t_rr = cpu_median(lambda: hvp(ring, x, v, mode='revrev'), repeats)
        print(f'    {n:>6} {t_grad * 1e3:>9.2f} {t_fr / t_grad:>7.2f}x {t_rr / t_grad:>7.2f}x')


def main(quick=False):
    bench_demo(repeats=8 if quick else 20)
    if mg_engine is not None:
        # micrograd's recursive topological sort: find where it breaks
        depth = next(n for n in range(100, 2000, 2) if _mg_fails(n))
        print(f'    micrograd backward raises RecursionError from a chain of {depth} steps '
              '(y = y*1.0001 + 0.0001; its topological sort is recursive)')
    bench_chain([1_000, 100_000] if quick else [1_000, 10_000, 100_000, 1_000_000])
    bench_memory()
    bench_hvp(repeats=3 if quick else 7)


def _mg_fails(n):
    y = mg_engine.Value(1.0)
    for _ in range(n):
        y = y * 1.0001 + 0.0001
    try:
        y.backward()
        return False
    except RecursionError:
        return True


if __name__ == '__main__':
    main(quick='--quick' in sys.argv)
