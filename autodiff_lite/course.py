"""One call at the top of every lesson: `setup()`."""
import random

import numpy as np

__all__ = ['setup']


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
