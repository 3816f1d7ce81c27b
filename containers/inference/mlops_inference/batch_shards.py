"""Which part of the input one task of a Cloud Run job scores.

Cloud Run starts `task_count` copies of the job's container, each with `CLOUD_RUN_TASK_INDEX` (0-based) and
`CLOUD_RUN_TASK_COUNT`; nothing else tells them apart and they do not talk to each other. So each task computes
its own share from those two numbers and the input, the same way every time (a retried task scores the same share
again and rewrites the same output part):

- Parquet: the (file, row group) pairs of the input, in path order, cut into `count` contiguous runs whose sizes
  differ by at most one (`shard_range`). A row group is never split: it is Parquet's unit of reading.
- image files: the files under the prefix, in name order, cut the same way.
- BigQuery: rows whose key hashes to the task, `ABS(MOD(FARM_FINGERPRINT(TO_JSON_STRING(STRUCT(keys))), count))`:
  no ordering or row count needed, every row in exactly one task (the key columns are required then).

Each task writes its own output part (`...-part-00003-of-00008.parquet`); the run's output is all `count` parts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from mlops_inference.batch_rows import UsageError

T = TypeVar("T")
INDEX_VARIABLE = "CLOUD_RUN_TASK_INDEX"
COUNT_VARIABLE = "CLOUD_RUN_TASK_COUNT"
MAX_TASKS = 10_000  # Cloud Run's own limit on task_count


def shard_range(total: int, index: int, count: int) -> range:
    """Task `index` of `count`'s items among `total`: contiguous, disjoint, complete, sizes within one."""
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"task {index} of {count} does not exist")
    if total < 0:
        raise ValueError(f"total must not be negative, got {total}")
    return range(total * index // count, total * (index + 1) // count)


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_TASKS:
            raise UsageError(f"{COUNT_VARIABLE} must be 1 to {MAX_TASKS}, got {self.count}")
        if not 0 <= self.index < self.count:
            raise UsageError(f"{INDEX_VARIABLE} must be 0 to {self.count - 1}, got {self.index}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Shard:
        """The task this process is, as Cloud Run says (task 0 of 1 when run by hand)."""
        environ = os.environ if environ is None else environ
        values = []
        for name, default in ((INDEX_VARIABLE, "0"), (COUNT_VARIABLE, "1")):
            raw = environ.get(name, default).strip() or default
            try:
                values.append(int(raw))
            except ValueError:
                raise UsageError(f"{name} must be an integer, got {raw!r}") from None
        return cls(values[0], values[1])

    @property
    def sharded(self) -> bool:
        return self.count > 1

    def take(self, items: Sequence[T]) -> list[T]:
        """This task's contiguous share of `items` (in the order given: sort them first)."""
        return list(items[i] for i in shard_range(len(items), self.index, self.count))

    def suffix(self) -> str:
        """What this task's output part is named with (nothing when the job runs as one task)."""
        return f"-part-{self.index:05d}-of-{self.count:05d}" if self.sharded else ""

    def as_dict(self) -> dict[str, int]:
        return {"task_index": self.index, "task_count": self.count}


ONE_TASK = Shard()  # the job run by hand, or as a job of one task
