import random

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seeded():
    random.seed(0)
    np.random.seed(0)
