"""Dynamic micro-batching: concurrent requests share one forward pass.

A model forward costs about the same for 1 row as for 32, so the service queues requests for a few milliseconds and
runs them together. The forward is blocking, so it runs in an executor, one batch at a time per batcher; requests that
arrive meanwhile form the next batch.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

logger = logging.getLogger(__name__)


class BatcherOverloaded(RuntimeError):
    """The queue is full: shed load now (HTTP 503) rather than let latency grow without bound."""


class BatcherStopped(RuntimeError):
    """The batcher is not running (not started yet, or stopped): it accepts no more requests."""


@dataclass(eq=False)
class _Request(Generic[T, R]):
    items: list[T]
    future: asyncio.Future[list[R]]
    arrived: float
    queued: bool = True  # its rows still count in `pending`


class DynamicBatcher(Generic[T, R]):
    """Groups rows of concurrent `submit` calls into batches of up to `max_batch_size` rows for `process`.

    A batch closes when it is full, when the next request would overflow it, or `max_wait_ms` after its first request
    arrived. Requests are FIFO and never split; one larger than `max_batch_size` runs alone. With `request_sizes`,
    `process` also gets how many rows each request of the batch brought, in order (`process(rows, sizes)`).
    """

    def __init__(
        self,
        process: Callable[..., list[R]],  # (rows) or, with request_sizes, (rows, sizes)
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        executor: concurrent.futures.Executor | None = None,
        max_queue: int = 10_000,
        name: str = "batcher",
        on_batch: Callable[[int, float], None] | None = None,
        request_sizes: bool = False,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be positive, got {max_batch_size}")
        if not max_wait_ms >= 0:  # also rejects NaN
            raise ValueError(f"max_wait_ms must be non-negative, got {max_wait_ms}")
        if max_queue < 1:
            raise ValueError(f"max_queue must be positive, got {max_queue}")
        self._process = process
        self._max_batch_size = max_batch_size
        self._max_wait = max_wait_ms / 1000
        self._max_queue = max_queue
        self._name = name
        self._on_batch = on_batch
        self._request_sizes = request_sizes
        self._owns_executor = executor is None
        # One dedicated thread by default: torch forwards do not gain from running concurrently on one device.
        self._executor = executor or concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name)
        self._queue: collections.deque[_Request[T, R]] = collections.deque()
        self._pending = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Rows queued now (not counting the batch being processed)."""
        return self._pending

    async def start(self) -> None:
        """Start the collector task on the running loop (call from the app's lifespan)."""
        if self._closed:
            raise BatcherStopped(f"{self._name} was stopped; create a new batcher")
        if self._task is not None:
            raise RuntimeError(f"{self._name} is already started")
        self._task = asyncio.get_running_loop().create_task(self._collect_forever(), name=self._name)

    async def stop(self) -> None:
        """Refuse new requests, process everything already queued, then release the executor."""
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await asyncio.wait([self._task])  # neither re-raises the collector's end nor cancels it with stop()
        self._fail_queued(BatcherStopped(f"{self._name} stopped"))  # only if the collector never ran or died
        if self._owns_executor:
            self._executor.shutdown(wait=False)  # never block the loop; the thread is idle once drained

    async def submit(self, items: list[T]) -> list[R]:
        """Queue `items` (one request, one or more rows) and return their results in order."""
        if self._closed or self._task is None:
            raise BatcherStopped(f"{self._name} is not running")
        if not items:
            return []
        if self._pending + len(items) > self._max_queue:
            raise BatcherOverloaded(f"{self._name}: {self._pending} rows queued, max_queue is {self._max_queue}")
        loop = asyncio.get_running_loop()
        request: _Request[T, R] = _Request(list(items), loop.create_future(), loop.time())
        self._queue.append(request)
        self._pending += len(request.items)
        self._wakeup.set()
        try:
            return await request.future
        except asyncio.CancelledError:
            self._dequeue(request)  # free its queue room now; the collector skips its cancelled future
            raise

    def _dequeue(self, request: _Request[T, R]) -> None:
        if request.queued:
            request.queued = False
            self._pending -= len(request.items)

    def _fail_queued(self, exc: BaseException) -> None:
        batch = list(self._queue)
        self._queue.clear()
        for request in batch:
            self._dequeue(request)
        self._fail(batch, exc)

    @staticmethod
    def _fail(batch: list[_Request[T, R]], exc: BaseException) -> None:
        for request in batch:
            if not request.future.done():  # a cancelled caller's outcome is discarded
                request.future.set_exception(exc)

    async def _collect_forever(self) -> None:
        try:
            while not (self._closed and not self._queue):
                batch = await self._collect()
                if batch:
                    await self._run(batch)
        finally:  # cancelled (loop shutting down) or a bug: nobody may wait forever
            self._fail_queued(BatcherStopped(f"{self._name} stopped"))

    async def _collect(self) -> list[_Request[T, R]]:
        """Wait for a first request, then gather more until full or its `max_wait_ms` has passed."""
        loop = asyncio.get_running_loop()
        batch: list[_Request[T, R]] = []
        rows = 0
        deadline = None
        while True:
            while self._queue:
                request = self._queue[0]
                if request.future.done():  # caller cancelled while queued: drop it
                    self._queue.popleft()
                    self._dequeue(request)
                    continue
                if batch and rows + len(request.items) > self._max_batch_size:
                    return batch  # it opens the next batch
                self._queue.popleft()
                self._dequeue(request)
                batch.append(request)
                rows += len(request.items)
                deadline = deadline if deadline is not None else request.arrived + self._max_wait
                if rows >= self._max_batch_size:
                    return batch
            if self._closed or (deadline is not None and deadline <= loop.time()):
                return batch
            self._wakeup.clear()
            try:
                async with asyncio.timeout_at(deadline):  # None: wait for the first request without a limit
                    await self._wakeup.wait()
            except TimeoutError:
                return batch

    async def _run(self, batch: list[_Request[T, R]]) -> None:
        """Run one batch in the executor and hand each request its slice of the results (or the error)."""
        rows = [item for request in batch for item in request.items]
        args: tuple = (rows, [len(request.items) for request in batch]) if self._request_sizes else (rows,)
        started = time.perf_counter()
        try:
            results = list(await asyncio.get_running_loop().run_in_executor(self._executor, self._process, *args))
            if len(results) != len(rows):
                raise RuntimeError(f"{self._name}: process returned {len(results)} results for {len(rows)} rows")
        except asyncio.CancelledError:  # the loop is shutting down: fail the batch, its callers may still listen
            self._fail(batch, BatcherStopped(f"{self._name} stopped during processing"))
            raise
        except Exception as exc:
            self._fail(batch, exc)
        else:
            offset = 0
            for request in batch:
                if not request.future.done():
                    request.future.set_result(results[offset : offset + len(request.items)])
                offset += len(request.items)
        if self._on_batch is not None:
            try:
                self._on_batch(len(rows), time.perf_counter() - started)
            except Exception:
                logger.exception("%s: on_batch callback failed", self._name)
