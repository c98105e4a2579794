"""Concurrency helpers for the tests of atomic operations."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

THREADS = 20


def race(action: Callable[[int], Any], threads: int = THREADS) -> list[Any]:
    """Run ``action(i)`` in ``threads`` threads released at the same instant."""
    barrier = threading.Barrier(threads)
    results: list[Any] = [None] * threads
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = action(i)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return results
