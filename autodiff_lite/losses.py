"""Fused tensor ops: a layer and the losses, each one node with its own rule.

`cross_entropy` stays fused for stability: log softmax and the pick of the
target in one step never take the log of an underflowed 0, and its gradient
is the short softmax - onehot. (A test checks it against the composed version.)
"""
import numpy as np

from .tensor import Tensor, as_constant, rule_node
from .tensor_rules import define_rule, log_softmax_array, softmax_array

__all__ = ['linear', 'cross_entropy', 'mse']

_add_reduce = np.add.reduce


def _linear_vjp_x(g, out, x, w, b=None):
    # y = x W + b  =>  dL/dx = G W^T
    if x.ndim == 2:
        return g @ w.T
    return (g.reshape(-1, w.shape[1]) @ w.T).reshape(x.shape)


def _linear_vjp_w(g, out, x, w, b=None):
    # y = x W + b  =>  dL/dW = x^T G (summed over every batch row)
    if x.ndim == 2:
        return x.T @ g
    return x.reshape(-1, w.shape[0]).T @ g.reshape(-1, w.shape[1])


def _linear_vjp_b(g, out, x, w, b=None):
    # y = x W + b  =>  dL/db = sum of G over the batch rows (b was broadcast to each)
    return _add_reduce(g if g.ndim == 2 else g.reshape(-1, w.shape[1]), axis=0)


def _mse(p, t):
    d = p - t
    return _add_reduce(d * d, axis=None) / d.size


def _cross_entropy(logits, targets=None):
    # L = -(1/N) sum_n log softmax(logits_n)[t_n]
    logp = log_softmax_array(logits, axis=1)
    return -logp[np.arange(len(targets)), targets].mean()


def _cross_entropy_vjp(g, out, logits, targets=None):
    # dL/dlogits = (softmax(logits) - onehot(t)) / N
    grad = softmax_array(logits, axis=1)
    grad[np.arange(len(targets)), targets] -= 1
    grad *= g / len(targets)
    return grad


#            name            forward, then one VJP per input
# linear(x, W, b) = x @ W + b in one node: what nn.Linear uses (one node instead of two)
define_rule('linear',        lambda x, w, b: x @ w + b, _linear_vjp_x, _linear_vjp_w, _linear_vjp_b)
define_rule('cross_entropy', _cross_entropy, _cross_entropy_vjp, symbol='CE')
# mse: L = mean((p - t)^2)  =>  dL/dp = 2 (p - t) / n, dL/dt = -dL/dp
define_rule('mse',           _mse,
            lambda g, out, p, t: (p - t) * (2.0 * float(g) / p.size),
            lambda g, out, p, t: (p - t) * (-2.0 * float(g) / p.size), symbol='MSE')


def _tensor(x, name):
    return x if isinstance(x, Tensor) else Tensor(as_constant(x, name))


def linear(x, w, b=None):
    """x @ w + b as one node (what nn.Linear uses): x (..., nin), w (nin, nout), b (nout,).

    Arrays or lists for x, w or b are constants (no gradient); b=None is x @ w."""
    x, w = _tensor(x, 'linear'), _tensor(w, 'linear')
    if b is None:
        if w.data.ndim != 2:
            raise ValueError(f'linear: w must have shape (nin, nout), got {w.data.shape}')
        return x @ w
    b = _tensor(b, 'linear')
    xs, ws, bs = x.data.shape, w.data.shape, b.data.shape
    if len(ws) != 2 or bs != ws[1:]:
        raise ValueError(f'linear: w must have shape (nin, nout) and b shape (nout,), '
                         f'got {ws} and {bs}')
    if not xs or xs[-1] != ws[0]:
        raise ValueError(f'linear: x has shape {xs} but w has shape {ws}: the last '
                         f'axis of x must have size nin = {ws[0]}')
    return rule_node('linear', (x, w, b))


def cross_entropy(logits, targets):
    """Mean over the batch of -log softmax(logits)[target]: logits (N, C), targets N ints in [0, C)."""
    logits = logits if isinstance(logits, Tensor) else Tensor(logits)
    t = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if logits.ndim != 2:
        raise ValueError(f'cross_entropy: logits must have shape (N, C), got {logits.shape}; '
                         f'for one example use logits.reshape(1, -1)')
    n, c = logits.shape
    if t.dtype.kind not in 'iu':
        if t.dtype.kind == 'f' and t.size and np.all(t == np.round(t)):
            t = t.astype(np.intp)
        else:
            raise TypeError(f'cross_entropy: targets must be class indices (ints in [0, {c})), '
                            f'got dtype {t.dtype}')
    if t.shape != (n,):
        raise ValueError(f'cross_entropy: targets must have shape ({n},), one class per row of '
                         f'logits {logits.shape}, got {t.shape}')
    bad = (t < 0) | (t >= c)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f'cross_entropy: target {int(t[k])} (row {k}) is out of range: with C = {c} '
                         f'classes (logits shape {logits.shape}) targets must be in [0, {c})')
    return rule_node('cross_entropy', (logits,), targets=t)


def mse(pred, target):
    """Mean squared error mean((pred - target)^2); shapes must be equal (no silent broadcast)."""
    pred = pred if isinstance(pred, Tensor) else Tensor(pred)
    t = target if isinstance(target, Tensor) else as_constant(target, 'mse')
    st = getattr(t, 'shape', ())              # a Tensor's, an array's, or a number's ()
    if pred.data.shape != st:
        raise ValueError(f'mse: pred has shape {pred.shape} and target {st}; they must be equal '
                         f'(broadcasting (N, 1) against (N,) would compare every pair). '
                         f'Fix: target.reshape({pred.shape}) or pred.reshape(-1)')
    return rule_node('mse', (pred, t))
