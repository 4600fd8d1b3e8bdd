"""Column-at-a-time work on a big table, spread over the machine's cores.

Fitting and encoding handle each column on its own, mostly inside numpy and Arrow, which let go of Python's
lock while they work. On a million-row table two threads fit the preprocessing in about 0.7 of the time one
takes (`bench/data_scale.py`). Small tables stay on the calling thread: starting threads would cost more
than it saves, and a traceback stays simple.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

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
    function: Callable[[T], R],
    items: Sequence[T],
    *,
    rows: int,
    in_pool: Callable[[T], bool] | None = None,
    cost: Callable[[T], float] | None = None,
) -> list[R]:
    """`[function(item) for item in items]`, on several threads when the table has `rows >= PARALLEL_MIN_ROWS`.

    Results come in the order of `items`, and so does an error: when several items fail, the first failing
    item's error is raised, as in the plain loop. Items for which `in_pool(item)` is False run on the calling
    thread (work that changes process-wide state, such as `warnings.catch_warnings`, must not run twice at
    once) while the others run on the pool, started by decreasing `cost` (a rough guess is enough: the
    longest should not start last).
    """
    items = list(items)
    if rows < PARALLEL_MIN_ROWS or min(thread_count(), len(items)) < 2:
        return [function(item) for item in items]
    pooled = [i for i, item in enumerate(items) if in_pool is None or in_pool(item)]
    # The calling thread works too when some items are its own: one thread fewer on the pool.
    workers = min(thread_count() - (len(pooled) < len(items)), len(pooled))
    if workers < 1:
        return [function(item) for item in items]
    if cost is not None:
        pooled.sort(key=lambda i: -cost(items[i]))
    outcomes: dict[int, tuple[bool, object]] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="layerlab-columns") as pool:
        futures = {i: pool.submit(_trimmed, function, items[i]) for i in pooled}
        for i, item in enumerate(items):
            if i not in futures:
                outcomes[i] = _outcome(function, item)
        for i, future in futures.items():
            error = future.exception()
            outcomes[i] = (False, error) if error is not None else (True, future.result())
    results: list[R] = []
    for i in range(len(items)):
        succeeded, value = outcomes[i]
        if not succeeded:
            raise value  # type: ignore[misc]
        results.append(value)  # type: ignore[arg-type]
    return results


def _outcome(function: Callable[[T], R], item: T) -> tuple[bool, object]:
    try:
        return True, function(item)
    except Exception as error:  # noqa: BLE001 - raised again in item order by map_columns
        return False, error


def _trimmed(function: Callable[[T], R], item: T) -> R:
    try:
        return function(item)
    finally:
        release_freed_memory()


def release_freed_memory() -> None:
    """Hand memory that C's malloc keeps for reuse back to the system (glibc's `malloc_trim`).

    glibc gives each thread its own pool ("arena") for large numpy arrays and keeps what a thread freed
    for that thread's next allocation, so two threads would hold two high-water marks: the peak of a
    million-row prepare rose from 382 to 422 MiB until each column's thread trims after its work."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl)
        return None
