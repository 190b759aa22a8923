"""Small seeded data sets, numpy only. Each returns `(X, y)`; the same arrays
serve the scalar `Value` models and the `Tensor` models."""
import numpy as np

__all__ = ['make_moons', 'make_circles', 'make_spirals', 'make_line']


def _rng(seed):
    return np.random.default_rng(seed)


def _check_n(n, minimum=2):
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < minimum:
        raise ValueError(f'n must be a whole number of points >= {minimum}, got {n!r}')


def make_moons(n=100, noise=0.1, seed=0):
    """Two interleaving half circles. X: (n, 2) floats; y: (n,) ints in {0, 1}."""
    _check_n(n)
    rng = _rng(seed)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n_in)
    X = np.vstack([np.column_stack([np.cos(t_out), np.sin(t_out)]),
                   np.column_stack([1 - np.cos(t_in), 0.5 - np.sin(t_in)])])
    y = np.concatenate([np.zeros(n_out, dtype=int), np.ones(n_in, dtype=int)])
    X = X + rng.normal(scale=noise, size=X.shape)
    perm = rng.permutation(n)
    return X[perm], y[perm]


def make_circles(n=100, noise=0.05, factor=0.5, seed=0):
    """A small circle (label 1) inside a large one (label 0)."""
    _check_n(n)
    if not 0 < factor < 1:
        raise ValueError(f'factor is the inner radius relative to the outer one: 0 < factor < 1, got {factor}')
    rng = _rng(seed)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    X = np.vstack([np.column_stack([np.cos(t_out), np.sin(t_out)]),
                   factor * np.column_stack([np.cos(t_in), np.sin(t_in)])])
    y = np.concatenate([np.zeros(n_out, dtype=int), np.ones(n_in, dtype=int)])
    X = X + rng.normal(scale=noise, size=X.shape)
    perm = rng.permutation(n)
    return X[perm], y[perm]


def make_spirals(n=100, classes=2, noise=0.2, seed=0):
    """`classes` interleaved spiral arms (CS231n style). y in {0, ..., classes-1}."""
    _check_n(n, minimum=classes)
    rng = _rng(seed)
    per = [n // classes + (1 if k < n % classes else 0) for k in range(classes)]
    X, y = [], []
    for k, m in enumerate(per):
        r = np.linspace(0.0, 1.0, m)
        t = np.linspace(k * 4.0, (k + 1) * 4.0, m) + rng.normal(scale=noise, size=m)
        X.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        y.append(np.full(m, k, dtype=int))
    X, y = np.vstack(X), np.concatenate(y)
    perm = rng.permutation(n)
    return X[perm], y[perm]


def make_line(n=50, slope=2.0, intercept=1.0, noise=0.1, seed=0):
    """Points near the line y = slope * x + intercept, x uniform in [-1, 1]. X: (n, 1); y: (n,)."""
    _check_n(n)
    rng = _rng(seed)
    x = rng.uniform(-1.0, 1.0, size=n)
    y = slope * x + intercept + rng.normal(scale=noise, size=n)
    return x.reshape(-1, 1), y
