"""DynamicBatcher: batch composition, errors, cancellation, back-pressure and shutdown, without timing assertions.

Batch composition is deterministic: every request is queued (create_task, then one await) before the collector runs,
and a batch that is full or followed by a request that does not fit closes at once, whatever the clock says.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "containers" / "inference"))

from mlops_inference.batching import BatcherOverloaded, BatcherStopped, DynamicBatcher

TIMEOUT = 30  # generous: only there so that a hang fails the test instead of blocking the run


class Recorder:
    """A `process` that doubles its rows and records each batch it saw, the thread it ran on; can be gated."""

    def __init__(self, gated: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.threads: set[int] = set()
        self.started = threading.Event()
        self.gate = threading.Event()
        if not gated:
            self.gate.set()

    def __call__(self, rows: list[int]) -> list[int]:
        self.batches.append(list(rows))
        self.threads.add(threading.get_ident())
        self.started.set()
        assert self.gate.wait(TIMEOUT)
        return [row * 2 for row in rows]

    @property
    def sizes(self) -> list[int]:
        return [len(batch) for batch in self.batches]

    async def wait_started(self) -> None:
        """Until the first batch is inside `process` (it blocks there while gated)."""
        assert await asyncio.get_running_loop().run_in_executor(None, self.started.wait, TIMEOUT)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


async def submit_all(batcher: DynamicBatcher, requests: list[list[int]]) -> list:
    tasks = [asyncio.create_task(batcher.submit(items)) for items in requests]
    return await asyncio.gather(*tasks, return_exceptions=True)


def test_concurrent_single_rows_form_full_batches_and_each_caller_gets_its_own_result():
    process = Recorder()

    async def main():
        batcher = DynamicBatcher(process, max_batch_size=8, max_wait_ms=50)
        await batcher.start()
        results = await submit_all(batcher, [[i] for i in range(32)])
        await batcher.stop()
        return results

    assert run(main()) == [[i * 2] for i in range(32)]
    assert process.sizes == [8, 8, 8, 8]
    assert process.batches[0] == list(range(8))  # FIFO


def test_batch_size_one_and_no_wait_processes_one_request_at_a_time():
    process = Recorder()

    async def main():
        batcher = DynamicBatcher(process, max_batch_size=1, max_wait_ms=0)
        await batcher.start()
        results = await submit_all(batcher, [[i] for i in range(10)])
        await batcher.stop()
        return results

    assert run(main()) == [[i * 2] for i in range(10)]
    assert process.batches == [[i] for i in range(10)]


def test_request_larger_than_the_batch_runs_alone_unsplit_and_requests_keep_their_order():
    process = Recorder()
    big = list(range(100, 110))

    async def main():
        batcher = DynamicBatcher(process, max_batch_size=4, max_wait_ms=1)
        await batcher.start()
        results = await submit_all(batcher, [[1], big, [2], [3, 4], [5]])
        await batcher.stop()
        return results

    results = run(main())
    assert results == [[2], [row * 2 for row in big], [4], [6, 8], [10]]
    # [1] closes when big does not fit; big runs alone; [2], [3, 4] and [5] queued behind it: 4 rows, one batch.
    assert process.batches == [[1], big, [2, 3, 4, 5]]


def test_request_that_would_overflow_the_batch_opens_the_next_one():
    process = Recorder()

    async def main():
        batcher = DynamicBatcher(process, max_batch_size=4, max_wait_ms=1)
        await batcher.start()
        results = await submit_all(batcher, [[1, 2, 3], [4, 5], [6, 7]])
        await batcher.stop()
        return results

    assert run(main()) == [[2, 4, 6], [8, 10], [12, 14]]
    assert process.batches == [[1, 2, 3], [4, 5, 6, 7]]


def test_exception_reaches_every_request_of_its_batch_and_the_next_batch_still_works():
    seen: list[list[int]] = []

    def process(rows: list[int]) -> list[int]:
        seen.append(list(rows))
        if -1 in rows:
            raise ValueError("bad row")
        return [row * 2 for row in rows]

    async def main():
        batcher = DynamicBatcher(process, max_batch_size=2, max_wait_ms=1)
        await batcher.start()
        first = await submit_all(batcher, [[1], [-1], [3], [4]])
        after = await batcher.submit([5])
        await batcher.stop()
        return first, after

    first, after = run(main())
    assert [type(result) for result in first[:2]] == [ValueError, ValueError]
    assert str(first[0]) == "bad row"
    assert first[2:] == [[6], [8]]
    assert after == [10]
    assert seen == [[1, -1], [3, 4], [5]]


def test_wrong_number_of_results_fails_the_whole_batch_with_runtime_error():
    async def main():
        batcher = DynamicBatcher(lambda rows: rows[:-1], max_batch_size=4, max_wait_ms=1)
        await batcher.start()
        results = await submit_all(batcher, [[1], [2, 3]])
        await batcher.stop()
        return results

    results = run(main())
    assert all(isinstance(result, RuntimeError) for result in results)
    assert "returned 2 results for 3 rows" in str(results[0])


def test_request_cancelled_while_queued_is_not_processed():
    process = Recorder(gated=True)

    async def main():
        batcher = DynamicBatcher(process, max_batch_size=1, max_wait_ms=0)
        await batcher.start()
        first = asyncio.create_task(batcher.submit([1]))
        await process.wait_started()
        queued = [asyncio.create_task(batcher.submit([i])) for i in (2, 3)]
        await asyncio.sleep(0)
        assert batcher.pending == 2
        queued[0].cancel()
        await asyncio.gather(queued[0], return_exceptions=True)
        assert batcher.pending == 1  # its room is freed at once
        process.gate.set()
        results = await asyncio.gather(first, queued[1])
        await batcher.stop()
        return queued[0], results

    cancelled, results = run(main())
    assert cancelled.cancelled()
    assert results == [[2], [6]]
    assert process.batches == [[1], [3]]


def test_request_cancelled_during_processing_is_discarded_and_the_batcher_goes_on():
    process = Recorder(gated=True)

    async def main():
        batcher = DynamicBatcher(process, max_batch_size=2, max_wait_ms=0)
        await batcher.start()
        doomed = asyncio.create_task(batcher.submit([1]))
        companion = asyncio.create_task(batcher.submit([2]))
        await process.wait_started()
        doomed.cancel()
        await asyncio.gather(doomed, return_exceptions=True)
        process.gate.set()
        results = [await companion, await batcher.submit([3])]
        await batcher.stop()
        return doomed, results

    doomed, results = run(main())
    assert doomed.cancelled()
    assert results == [[4], [6]]
    assert process.batches == [[1, 2], [3]]


def test_submit_beyond_max_queue_raises_overloaded():
    process = Recorder(gated=True)

    async def main():
        batcher = DynamicBatcher(process, max_batch_size=1, max_wait_ms=0, max_queue=4)
        await batcher.start()
        running = asyncio.create_task(batcher.submit([1]))
        await process.wait_started()  # the batch being processed does not count as queued
        queued = asyncio.create_task(batcher.submit([2, 3, 4]))
        await asyncio.sleep(0)
        assert batcher.pending == 3
        with pytest.raises(BatcherOverloaded, match="3 rows queued"):
            await batcher.submit([5, 6])
        fits = asyncio.create_task(batcher.submit([5]))  # exactly max_queue
        await asyncio.sleep(0)
        assert batcher.pending == 4
        process.gate.set()
        results = await asyncio.gather(running, queued, fits)
        await batcher.stop()
        return results

    assert run(main()) == [[2], [4, 6, 8], [10]]
    assert issubclass(BatcherOverloaded, RuntimeError)


def test_stop_processes_what_is_queued_and_then_refuses_new_requests():
    process = Recorder(gated=True)

    async def main():
        # max_wait_ms beyond TIMEOUT: if the drain waited for it, wait_for would fail the test.
        batcher = DynamicBatcher(process, max_batch_size=2, max_wait_ms=TIMEOUT * 2000)
        await batcher.start()
        requests = [asyncio.create_task(batcher.submit([1, 2]))]  # full: goes at once
        await process.wait_started()
        requests += [asyncio.create_task(batcher.submit([i])) for i in (3, 4, 5)]
        await asyncio.sleep(0)
        stopping = asyncio.create_task(batcher.stop())
        await asyncio.sleep(0)
        with pytest.raises(BatcherStopped):  # already refused while draining
            await batcher.submit([6])
        process.gate.set()
        await asyncio.wait_for(stopping, TIMEOUT)
        with pytest.raises(BatcherStopped):
            await batcher.submit([7])
        assert batcher.pending == 0
        return await asyncio.wait_for(asyncio.gather(*requests, return_exceptions=True), TIMEOUT)

    assert run(main()) == [[2, 4], [6], [8], [10]]
    assert process.batches == [[1, 2], [3, 4], [5]]


def test_cancelled_collector_fails_queued_and_running_requests_instead_of_leaving_them_hanging():
    process = Recorder(gated=True)

    async def main():
        batcher = DynamicBatcher(process, max_batch_size=1, max_wait_ms=0)
        await batcher.start()
        requests = [asyncio.create_task(batcher.submit([1]))]
        await process.wait_started()
        requests.append(asyncio.create_task(batcher.submit([2])))
        await asyncio.sleep(0)
        batcher._task.cancel()  # what loop teardown does to a batcher nobody stopped
        results = await asyncio.wait_for(asyncio.gather(*requests, return_exceptions=True), TIMEOUT)
        process.gate.set()
        await asyncio.wait_for(batcher.stop(), TIMEOUT)
        return results

    results = run(main())
    assert [type(result) for result in results] == [BatcherStopped, BatcherStopped]
    assert process.batches == [[1]]


def test_submit_before_start_raises_stopped_and_stop_without_start_is_harmless():
    async def main():
        batcher = DynamicBatcher(Recorder())
        with pytest.raises(BatcherStopped):
            await batcher.submit([1])
        await batcher.stop()
        with pytest.raises(BatcherStopped):
            await batcher.start()

    run(main())


def test_on_batch_gets_rows_and_seconds_of_every_batch_and_its_errors_are_only_logged(caplog):
    calls: list[tuple[int, float]] = []

    def on_batch(rows: int, seconds: float) -> None:
        calls.append((rows, seconds))
        raise RuntimeError("metrics backend down")

    async def main():
        batcher = DynamicBatcher(Recorder(), max_batch_size=3, max_wait_ms=1, on_batch=on_batch, name="metrics")
        await batcher.start()
        results = await submit_all(batcher, [[i] for i in range(7)])
        await batcher.stop()
        return results

    with caplog.at_level(logging.ERROR, logger="mlops_inference.batching"):
        assert run(main()) == [[i * 2] for i in range(7)]
    assert [rows for rows, _ in calls] == [3, 3, 1]
    assert all(seconds >= 0 for _, seconds in calls)
    assert caplog.text.count("metrics: on_batch callback failed") == 3


def test_process_runs_off_the_event_loop_thread_on_one_dedicated_thread():
    process = Recorder()

    async def main():
        batcher = DynamicBatcher(process, max_batch_size=2, max_wait_ms=0)
        await batcher.start()
        await submit_all(batcher, [[i] for i in range(6)])
        await batcher.stop()
        return threading.get_ident()

    loop_thread = run(main())
    assert len(process.sizes) == 3
    assert len(process.threads) == 1
    assert loop_thread not in process.threads


def test_given_executor_is_used_and_left_running_by_stop():
    names: list[str] = []

    def process(rows: list[int]) -> list[int]:
        names.append(threading.current_thread().name)
        return rows

    async def main(executor):
        batcher = DynamicBatcher(process, executor=executor)
        await batcher.start()
        assert await batcher.submit([1, 2]) == [1, 2]
        await batcher.stop()

    with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="model") as executor:
        run(main(executor))
        assert executor.submit(lambda: 42).result(TIMEOUT) == 42
    assert names and names[0].startswith("model")


@pytest.mark.parametrize(
    "kwargs",
    [{"max_batch_size": 0}, {"max_wait_ms": -1}, {"max_wait_ms": float("nan")}, {"max_queue": 0}],
)
def test_invalid_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError):
        DynamicBatcher(Recorder(), **kwargs)


def test_torch_linear_batched_forward_equals_per_row_forward():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3).eval()
    sizes: list[int] = []

    def forward(rows):
        sizes.append(len(rows))
        with torch.inference_mode():  # thread-local: entered on the executor thread, where the forward runs
            return list(model(torch.stack(rows)))

    inputs = [[torch.randn(4)] for _ in range(9)] + [[torch.randn(4) for _ in range(4)]]

    async def main():
        batcher = DynamicBatcher(forward, max_batch_size=4, max_wait_ms=1)
        await batcher.start()
        results = await submit_all(batcher, inputs)
        await batcher.stop()
        return results

    results = run(main())
    assert sizes == [4, 4, 1, 4]  # the 4-row request does not fit after the 9th row
    with torch.inference_mode():
        for rows, outputs in zip(inputs, results, strict=True):
            assert len(outputs) == len(rows)
            for row, output in zip(rows, outputs, strict=True):
                assert torch.allclose(output, model(row.unsqueeze(0))[0], atol=1e-6)


def test_with_request_sizes_process_learns_how_many_rows_each_request_of_its_batch_brought():
    seen: list[tuple[list[int], list[int]]] = []

    def process(rows: list[int], sizes: list[int]) -> list[int]:
        seen.append((list(rows), list(sizes)))
        return [sum(sizes)] * len(rows)

    async def main():
        batcher = DynamicBatcher(process, max_batch_size=6, max_wait_ms=50, request_sizes=True)
        await batcher.start()
        results = await submit_all(batcher, [[1, 2], [3], [4, 5, 6], [7, 8, 9, 10]])
        await batcher.stop()
        return results

    results = run(main())
    # the first three requests fill one batch of 6 rows; the fourth does not fit and runs alone
    assert seen == [([1, 2, 3, 4, 5, 6], [2, 1, 3]), ([7, 8, 9, 10], [4])]
    assert results == [[6, 6], [6], [6, 6, 6], [4, 4, 4, 4]]
