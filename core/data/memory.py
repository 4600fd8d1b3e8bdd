"""Arrow memory that LayerLab frees goes back to the system at once.

pyarrow's default allocator (mimalloc) keeps freed memory for reuse. Reading a 112 MB CSV and profiling
it left about 200 MiB more resident than the table itself, and every later step added its peak on top.
jemalloc with a decay time of 0 returns freed pages immediately: on the same file the process held 270
instead of 390 MiB after loading, and peaked about 120 MiB lower through training preparation
(`bench/data_scale.py`, docs/PERFORMANCE.md). `core.data.reading` and `core.data.preprocessing` call
`use_returning_arrow_pool()` when imported; pyarrow builds without jemalloc keep their default pool.
"""

from __future__ import annotations

import pyarrow as pa

_configured = False


def use_returning_arrow_pool() -> pa.MemoryPool:
    """Make jemalloc with no decay Arrow's default pool (once per process) and return the default pool."""
    global _configured
    if not _configured:
        _configured = True
        try:
            pool = pa.jemalloc_memory_pool()
            pa.jemalloc_set_decay_ms(0)
        except (NotImplementedError, pa.ArrowNotImplementedError):
            return pa.default_memory_pool()
        pa.set_memory_pool(pool)
    return pa.default_memory_pool()
