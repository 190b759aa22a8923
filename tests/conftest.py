import os
import random

import numpy as np
import pytest
from hypothesis import settings

# CI runs the same examples every time (a failure there must be reproducible);
# locally hypothesis explores new ones.
settings.register_profile('ci', derandomize=True, deadline=None)
settings.register_profile('dev', deadline=None)
settings.load_profile('ci' if os.environ.get('CI') else 'dev')


@pytest.fixture(autouse=True)
def _seeded():
    random.seed(0)
    np.random.seed(0)


def pytest_addoption(parser):
    parser.addoption('--fuzz-long', action='store_true', default=False,
                     help='tests/test_fuzz.py: run many more random programs (other seeds) than CI')
