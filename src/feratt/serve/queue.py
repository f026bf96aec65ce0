"""A bounded queue in front of the model: a few worker threads run the jobs, a fixed number
may wait, and the rest are refused at once, so a burst can neither pile up memory nor make
every client wait behind it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class QueueFull(RuntimeError):
    """Every worker is busy and the waiting places are taken."""


class JobTimeout(RuntimeError):
    """A job did not finish within the queue's timeout."""


class InferenceQueue:
    """Runs blocking jobs on ``workers`` threads with at most ``waiting`` more queued.

    Args:
        workers: jobs that run at once (one per model copy; the model is not shared between
            threads, so 1 unless torch threads are few).
        waiting: jobs that may wait for a worker; one more is refused with ``QueueFull``.
        timeout_s: a caller waits at most this long for its job (``JobTimeout``); the job
            still holds its place until it ends, so the bound stays true.
    """

    def __init__(self, workers: int = 1, waiting: int = 8, timeout_s: float = 30.0) -> None:
        if workers < 1 or waiting < 0 or timeout_s <= 0:
            raise ValueError("need workers >= 1, waiting >= 0 and timeout_s > 0")
        self.capacity = workers + waiting
        self.timeout_s = timeout_s
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="feratt-serve")
        self._lock = threading.Lock()
        self._busy = 0

    @property
    def busy(self) -> int:
        """Jobs running or waiting."""
        return self._busy

    async def run(self, job: Callable[[], T]) -> T:
        """The result of ``job()`` run on a worker; raises what it raises."""
        with self._lock:
            if self._busy >= self.capacity:
                raise QueueFull(f"the server is busy ({self._busy} requests in progress)")
            self._busy += 1
        future = self._executor.submit(job)
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except TimeoutError:
            future.cancel()  # frees its place now if it had not started
            raise JobTimeout(f"the model took over {self.timeout_s:g} s") from None

    def _release(self, _future: object) -> None:
        with self._lock:
            self._busy -= 1

    def close(self) -> None:
        """Finish running jobs, drop waiting ones."""
        self._executor.shutdown(wait=True, cancel_futures=True)
