"""Tensor engine vs the same maths by hand in numpy (and PyTorch CPU if installed).

    .venv/bin/python bench/tensor_bench.py        # about 30 s; add `a` or `b` for one network

Two networks, float32, plain SGD, one BLAS thread:
  (a) 784-256-256-10 ReLU MLP, batch 128, softmax cross-entropy
  (b) 2-64-64-1 ReLU MLP, batch 256, mean squared error
For each we time a whole training step (forward, backward, update), the
forward pass alone (building the graph, as in training) and forward+backward.
Hand-written numpy is the practical limit for a numpy engine: ours can only
add Python overhead on top of the same numpy calls. The implementations take
turns in every round (so a slow moment of the machine hits all of them) and
each figure is the median over rounds of process CPU time.

One BLAS thread is set through environment variables below, which only work
if they are set before numpy is first imported: run this file as a script
(bench/run.py imports it; it must set them itself if it imports numpy first).
"""
import os
import sys

for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS',
             'BLIS_NUM_THREADS', 'VECLIB_MAXIMUM_THREADS', 'NUMEXPR_NUM_THREADS'):
    os.environ.setdefault(_var, '1')

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from autodiff_lite.nn import SGD, cross_entropy, mlp, mse  # noqa: E402
from autodiff_lite.tensor import Tensor  # noqa: E402

try:
    import torch
    torch.set_num_threads(1)
except ImportError:        # the comparison simply leaves PyTorch out
    torch = None

NETS = {
    'a': dict(title='784-256-256-10, batch 128, cross-entropy', sizes=[784, 256, 256, 10],
              batch=128, loss='ce'),
    'b': dict(title='2-64-64-1, batch 256, MSE', sizes=[2, 64, 64, 1], batch=256, loss='mse'),
}
LR = 0.01
F32 = np.float32


def make_batches(net, n_batches=4, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        x = rng.standard_normal((net['batch'], net['sizes'][0])).astype(F32)
        if net['loss'] == 'ce':
            y = rng.integers(0, net['sizes'][-1], size=net['batch'])
        else:
            y = rng.standard_normal((net['batch'], 1)).astype(F32)
        out.append((x, y))
    return out


# --- ours ---------------------------------------------------------------------------------
class Ours:
    name = 'autodiff_lite'

    def __init__(self, net):
        self.model = mlp(net['sizes'], seed=0, dtype=F32)
        self.loss = cross_entropy if net['loss'] == 'ce' else mse
        self.opt = SGD(self.model.parameters(), lr=LR)

    def weights(self):
        return [p.data.copy() for p in self.model.parameters()]

    def forward(self, x, y):
        return self.loss(self.model(Tensor(x)), y)

    def forward_backward(self, x, y):
        self.opt.zero_grad()
        self.forward(x, y).backward()

    def step(self, x, y):
        self.forward_backward(x, y)
        self.opt.step()


# --- the same maths by hand -------------------------------------------------------------
class Hand:
    """Forward keeps what backward needs; backward is the chain rule written out."""
    name = 'hand numpy'

    def __init__(self, net, weights):
        self.params = [w.copy() for w in weights]       # w1, b1, w2, b2, w3, b3
        self.ce = net['loss'] == 'ce'

    def forward(self, x, y):
        w1, b1, w2, b2, w3, b3 = self.params
        h1 = x @ w1 + b1
        a1 = np.maximum(h1, 0)
        h2 = a1 @ w2 + b2
        a2 = np.maximum(h2, 0)
        out = a2 @ w3 + b3
        if self.ce:
            shifted = out - out.max(axis=1, keepdims=True)
            e = np.exp(shifted)
            s = e.sum(axis=1, keepdims=True)
            rows = np.arange(len(y))
            loss = (np.log(s[:, 0]) - shifted[rows, y]).mean()
            dout_cache = e / s                         # softmax, for backward
        else:
            dout_cache = out - y
            loss = np.mean(dout_cache * dout_cache)
        return loss, (x, h1, a1, h2, a2, dout_cache)

    def backward(self, y, cache):
        w1, b1, w2, b2, w3, b3 = self.params
        x, h1, a1, h2, a2, d = cache
        if self.ce:
            d[np.arange(len(y)), y] -= 1               # softmax - onehot
            dout = d * (1.0 / len(y))
        else:
            dout = d * (2.0 / d.size)
        dw3, db3 = a2.T @ dout, dout.sum(axis=0)
        dh2 = (dout @ w3.T) * (h2 > 0)
        dw2, db2 = a1.T @ dh2, dh2.sum(axis=0)
        dh1 = (dh2 @ w2.T) * (h1 > 0)
        dw1, db1 = x.T @ dh1, dh1.sum(axis=0)
        return [dw1, db1, dw2, db2, dw3, db3]

    def forward_backward(self, x, y):
        loss, cache = self.forward(x, y)
        return self.backward(y, cache)

    def step(self, x, y):
        for p, g in zip(self.params, self.forward_backward(x, y)):
            p -= LR * g


# --- PyTorch CPU -------------------------------------------------------------------------
class Torch:
    name = 'PyTorch CPU'

    def __init__(self, net, weights):
        self.params = [torch.tensor(w, requires_grad=True) for w in weights]
        self.ce = net['loss'] == 'ce'
        self.opt = torch.optim.SGD(self.params, lr=LR)
        self.F = torch.nn.functional

    def forward(self, x, y):
        w1, b1, w2, b2, w3, b3 = self.params
        a1 = self.F.relu(x @ w1 + b1)
        a2 = self.F.relu(a1 @ w2 + b2)
        out = a2 @ w3 + b3
        return self.F.cross_entropy(out, y) if self.ce else self.F.mse_loss(out, y)

    def forward_backward(self, x, y):
        self.opt.zero_grad(set_to_none=True)
        self.forward(x, y).backward()

    def step(self, x, y):
        self.forward_backward(x, y)
        self.opt.step()


# --- timing ---------------------------------------------------------------------------------
KINDS = ('step', 'forward', 'forward_backward')


def _time_block(fn, batches, calls):
    # CPU time of this process, not wall time: other jobs on the machine take
    # cores away, but not CPU seconds (everything here runs on one thread)
    start = time.process_time()
    for i in range(calls):
        fn(*batches[i % len(batches)])
    return (time.process_time() - start) / calls


def measure(net, budget_s=9.0, block_s=0.02):
    """Median seconds per call of step / forward / forward_backward for each implementation.

    Blocks of about 20 ms of calls taken in turns, the order shuffled each
    round, so that load from other processes (cache, memory bandwidth) falls on
    every implementation alike; the median over many rounds ignores the bursts.
    """
    batches = make_batches(net)
    ours = Ours(net)
    impls = [ours, Hand(net, ours.weights())]
    feeds = {ours.name: batches, 'hand numpy': batches}
    if torch is not None:
        impls.append(Torch(net, ours.weights()))
        feeds['PyTorch CPU'] = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]
    calls = {}
    for m in impls:                       # warm up, and size each block to about block_s
        for kind in KINDS:
            t = _time_block(getattr(m, kind), feeds[m.name], 5)
            calls[(m.name, kind)] = max(1, round(block_s / t))
    times = {key: [] for key in calls}
    rng = np.random.default_rng(0)
    jobs = list(calls)
    deadline = time.perf_counter() + budget_s
    while time.perf_counter() < deadline:
        for j in rng.permutation(len(jobs)):
            name, kind = jobs[j]
            m = next(m for m in impls if m.name == name)
            times[(name, kind)].append(_time_block(getattr(m, kind), feeds[name], calls[(name, kind)]))
    return [m.name for m in impls], {k: statistics.median(v) for k, v in times.items()}


def check_same_gradients(net):
    """Sanity: our gradients equal the hand-written ones on one batch (float32 tolerance)."""
    x, y = make_batches(net, 1)[0]
    ours = Ours(net)
    hand = Hand(net, ours.weights())
    ours.forward_backward(x, y)
    for p, g in zip(ours.model.parameters(), hand.forward_backward(x, y)):
        np.testing.assert_allclose(p.grad, g, rtol=2e-3, atol=1e-5)


def main(nets='ab'):
    """Print, for each network, ms per step and the ratios to hand-written numpy."""
    print(f'Tensor benchmark: float32, SGD, 1 BLAS thread (OMP_NUM_THREADS='
          f'{os.environ.get("OMP_NUM_THREADS")}), numpy {np.__version__}'
          + (f', torch {torch.__version__}' if torch is not None else ', PyTorch not installed'))
    print(f'Targets: step <= 1.15x hand numpy; (fwd+bwd)/fwd <= 2.5 on (a). Medians of CPU '
          f'time; load average now {os.getloadavg()[0]:.1f} (other jobs still shift the ratios)')
    results = {}
    for key in nets:
        net = NETS[key]
        check_same_gradients(net)
        names, t = measure(net)
        results[key] = (names, t)
        hand = t[('hand numpy', 'step')]
        print(f'\n({key}) {net["title"]}')
        print(f'  {"":15} {"step ms":>9} {"x hand":>8} {"fwd ms":>8} {"(fwd+bwd)/fwd":>14}')
        for name in names:
            step, fwd, fb = t[(name, 'step')], t[(name, 'forward')], t[(name, 'forward_backward')]
            print(f'  {name:15} {1e3 * step:9.3f} {step / hand:8.2f} {1e3 * fwd:8.3f} {fb / fwd:14.2f}')
    return results


if __name__ == '__main__':
    main(*sys.argv[1:2])          # `tensor_bench.py b` runs network (b) only
