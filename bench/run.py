"""`make bench`: every benchmark, each engine measured side by side in one run, printed as ratios.

Not part of `make test`: speed is measured here, never asserted in unit tests.
"""
import os
import sys

# one BLAS thread, set before numpy loads, so the tensor numbers compare like with like
for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(var, '1')

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import scalar_bench  # noqa: E402

print('== scalar engine ==')
scalar_bench.main(quick='--quick' in sys.argv)
try:
    import tensor_bench  # noqa: E402
except ImportError:
    print('== tensor engine: no benchmark yet ==')
else:
    print('\n== tensor engine ==')
    tensor_bench.main()

import checkpoint_bench  # noqa: E402

print('\n== checkpointing ==')
checkpoint_bench.main()
