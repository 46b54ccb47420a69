"""salesflow: an event-driven pipeline for sales data."""

import os

# numpy (which polars, pyarrow and the batch's deduplication import) starts OpenBLAS with a
# thread per core, and salesflow calls no BLAS routine: the extra threads only spin, about
# 0.1 s of CPU per process on this 2-core machine (`import numpy` and one maximum.at: 0.20 s
# of user time against 0.10 s with one thread). Set before anything imports numpy; a value
# the user set stays.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# polars' allocator (jemalloc) gives freed pages back lazily (MADV_FREE, "muzzy") for a second
# after holding them half a second: pages given back that way still count in the process's RSS
# until the kernel wants them. Given back at once instead, the 1M-order batch peaks 50-100 MB
# lower (1.18-1.28 GB against 1.28-1.33 GB, eight alternating runs), in the same time. polars
# adds this to its own settings (the last value of a setting wins); a value the user set stays.
os.environ.setdefault("_RJEM_MALLOC_CONF", "muzzy_decay_ms:0")

__version__ = "0.1.0"
