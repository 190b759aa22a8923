"""Course helpers: `setup()` at the top of every lesson, `best_time()` for the timing cells."""
import gc
import random
import time

import numpy as np

__all__ = ['setup', 'best_time']


def setup(seed=0, precision=4):
    """Seed every random source, round printed arrays, and set a plain plot style.

    Lessons call it in their first cell so that a re-run prints the same numbers.
    """
    random.seed(seed)
    np.random.seed(seed)
    np.set_printoptions(precision=precision, suppress=True)
    try:
        import matplotlib
        matplotlib.rcParams.update({
            'figure.figsize': (5.5, 3.5), 'figure.dpi': 90, 'axes.grid': True,
            'grid.alpha': 0.3, 'axes.spines.top': False, 'axes.spines.right': False,
            'svg.hashsalt': 'autodiff-lite',      # stable ids if a figure is ever saved as SVG
        })
    except ImportError:          # plots are optional outside the course environment
        pass


def best_time(fn, repeats=5):
    """Seconds of the fastest of `repeats` calls of fn(): CPU time of this process,
    so other programs on the machine don't count, with the garbage collector paused
    during each call (as `timeit` does). The fastest run is the least disturbed one."""
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f'repeats must be a whole number >= 1, got {repeats!r}')
    best = float('inf')
    for _ in range(repeats):
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            start = time.process_time()
            fn()
            best = min(best, time.process_time() - start)
        finally:
            if was_enabled:
                gc.enable()
    return best
