"""Column-at-a-time work on a big table, spread over the machine's cores.

Fitting and encoding handle each column on its own, mostly inside numpy and Arrow, which let go of Python's
lock while they work. On a million-row table two threads fit the preprocessing in about 0.7 of the time one
takes (`bench/data_scale.py`). Small tables stay on the calling thread: starting threads would cost more
than it saves, and a traceback stays simple.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

# One lock for every thread that silences warnings: the one the shared table rules use.
from core.data.table_rules import warnings_ignored as warnings_ignored

T = TypeVar("T")
R = TypeVar("R")

# Rows from which a table's columns are worked on in parallel.
PARALLEL_MIN_ROWS = 100_000
MAX_THREADS = 4


def thread_count() -> int:
    """The cores this process may use (its CPU affinity, as in a container), at most `MAX_THREADS`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_THREADS, cores))


def map_columns(
    function: Callable[[T], R], items: Sequence[T], *, rows: int, cost: Callable[[T], float] | None = None
) -> list[R]:
    """`[function(item) for item in items]`, on several threads when the table has `rows >= PARALLEL_MIN_ROWS`.

    Results come in the order of `items`, and so does an error: when several items fail, the first failing
    item's error is raised, as in the plain loop. Items start by decreasing `cost` (a rough guess is enough:
    the longest should not start last). Work on the threads that silences warnings must use
    `warnings_ignored`.
    """
    items = list(items)
    workers = min(thread_count(), len(items))
    if rows < PARALLEL_MIN_ROWS or workers < 2:
        return [function(item) for item in items]
    order = sorted(range(len(items)), key=lambda i: -cost(items[i])) if cost is not None else range(len(items))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="layerlab-columns") as pool:
        futures = {i: pool.submit(function, items[i]) for i in order}
        errors = {i: future.exception() for i, future in futures.items()}
    for i in range(len(items)):
        if errors[i] is not None:
            raise errors[i]
    return [futures[i].result() for i in range(len(items))]
