"""Checkpointing benchmark: memory and time of checkpoint(f, *inputs) against the plain graph.

(e) a scalar chain of n = 100,000 ops (y = sin y), cut into k = √n checkpointed
    segments: the most graph nodes alive at once during forward + backward
    (counted from outside the engine: the bench's own segment function counts
    the live Values with gc after each run, in a separate measuring pass), peak
    bytes (tracemalloc), the CPU-time ratio (medians of interleaved runs) and
    the gradient difference.
(f) a tensor MLP of 16 layers: bytes of saved arrays (activations the graph keeps
    for backward) with a checkpoint per layer and per √L-layer segment, and the
    gradient difference.
"""
import gc
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from autodiff_lite import Tensor, Value, checkpoint  # noqa: E402
from autodiff_lite.checkpoint import peak_bytes, saved_bytes  # noqa: E402
from autodiff_lite.nn import mlp  # noqa: E402


class Census:
    """Counts the live Values (gc) whenever `look()` is called; keeps the largest count."""
    def __init__(self):
        self.most = 0

    def look(self):
        self.most = max(self.most, sum(1 for o in gc.get_objects() if type(o) is Value))


def sin_steps(m, census=None):
    def f(v):
        for _ in range(m):
            v = v.sin()
        if census is not None:
            census.look()                 # f's whole graph is alive here (forward and recompute)
        return v
    return f


def chain(n, k, census=None):
    """Forward and backward of n sin ops in |k| segments, checkpointed if k > 0 (plain if k < 0)."""
    segments = abs(k)
    sizes = [n // segments + (i < n % segments) for i in range(segments)]
    x = Value(1.0)
    y = x
    for m in sizes:
        y = checkpoint(sin_steps(m, census), y) if k > 0 else sin_steps(m, census)(y)
    if census is not None:
        census.look()                     # the forward pass's graph
    y.backward()
    return x.grad


def bench_chain(n=100_000, rounds=3):
    k = math.isqrt(n)
    print(f'(e) scalar chain of {n:,} sin ops, k = {k} checkpointed segments of about {n // k}')
    counts = {}
    for name, kk in (('plain', -k), ('checkpoint', k)):
        gc.collect()
        census = Census()
        chain(n, kk, census)
        counts[name] = census.most
    gc.collect()
    g_plain, peak_plain = peak_bytes(lambda: chain(n, -k))
    gc.collect()
    g_ckpt, peak_ckpt = peak_bytes(lambda: chain(n, k))
    times = {'plain': [], 'checkpoint': []}
    for r in range(rounds):
        for name in (('plain', 'checkpoint') if r % 2 == 0 else ('checkpoint', 'plain')):
            gc.collect()
            t = time.process_time()
            chain(n, -k if name == 'plain' else k)
            times[name].append(time.process_time() - t)
    t_plain, t_ckpt = (statistics.median(times[key]) for key in ('plain', 'checkpoint'))
    print(f'    most live nodes: plain {counts["plain"]:,}, checkpointed {counts["checkpoint"]:,} '
          f'(target <= 3√n = {3 * k})')
    print(f'    peak bytes: plain {peak_plain / 1e6:.1f} MB, checkpointed {peak_ckpt / 1e6:.2f} MB')
    print(f'    forward + backward: plain {t_plain:.2f} s, checkpointed {t_ckpt:.2f} s = '
          f'{t_ckpt / t_plain:.2f}x (target <= 2.5x)')
    print(f'    gradient: plain {g_plain:.6e}, relative difference {abs(g_ckpt - g_plain) / abs(g_plain):.1e}')


def bench_mlp(layers=16, width=256, batch=128):
    print(f'(f) tensor MLP of {layers} layers ({width} wide, batch {batch}, tanh): bytes of saved arrays')
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((batch, width)), rng.standard_normal((batch, 1))
    net = mlp([width] * layers + [1], activation='tanh', seed=0)
    parts = net.layers
    per = int(round(math.sqrt(layers)))
    plans = {'plain': None,
             'one checkpoint per layer': [parts[i:i + 2] for i in range(0, len(parts), 2)],
             f'{per} segments of {per} layers': [parts[i:i + 2 * per] for i in range(0, len(parts), 2 * per)]}

    def run(group):
        def f(h):
            for layer in group:
                h = layer(h)
            return h
        return f

    base = None
    for name, groups in plans.items():
        net.zero_grad()
        h = Tensor(X)
        for group in groups or [parts]:
            h = run(group)(h) if groups is None else checkpoint(run(group), h)
        loss = ((h - Y) * (h - Y)).mean()
        kept = saved_bytes(loss)
        loss.backward()
        grads = [p.grad.copy() for p in net.parameters()]
        if base is None:
            base = (kept, grads)
            print(f'    {name:28} {kept / 1e6:7.2f} MB')
            continue
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(grads, base[1]))
        print(f'    {name:28} {kept / 1e6:7.2f} MB = {kept / base[0]:.2f} of plain, '
              f'largest gradient difference {diff:.1e}')
    print('    (targets: <= 0.6 of plain per layer, <= 0.4 with √L segments)')


def main():
    bench_chain()
    bench_mlp()


if __name__ == '__main__':
    main()
