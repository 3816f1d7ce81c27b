"""Zip archives told by their central directory, read from the object's tail, whatever their size
(issue 19): real files written by torch, forged and truncated ones, through register_model."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import register_model
from shared.artifact_format import HEAD_BYTES, MAX_DIRECTORY_BYTES, detect_format, detect_stored_format
from shared.outcome import Status
from shared.payloads.storage import StorageChange, StorageObjectEvent
from tests.support import model_archives as archives
from tests.support.fakes import FakeDeps, FakeObjectStore

BUCKET = "ml-models-dev"


def stored(name: str, data: bytes, size: int | None = None) -> tuple[FakeObjectStore, int]:
    objects = FakeObjectStore()
    objects.put(BUCKET, name, data)
    return objects, (len(data) if size is None else size)


def detect(name: str, data: bytes, size: int | None = None):
    objects, size = stored(name, data, size)
    return detect_stored_format(objects, BUCKET, name, objects.objects[(BUCKET, name)][0].generation, size)


@pytest.mark.parametrize(
    ("name", "make", "width", "expected"),
    [
        ("model.pt", archives.torchscript, archives.SMALL_WIDTH, "torchscript"),
        ("model.pt", archives.torchscript, archives.LARGE_WIDTH, "torchscript"),
        ("weights.pt", archives.torch_save, archives.SMALL_WIDTH, "torch-zip"),
        ("weights.pt", archives.torch_save, archives.LARGE_WIDTH, "torch-zip"),
        ("model.pt2", archives.exported, archives.SMALL_WIDTH, "torch-export"),
        ("model.pt2", archives.exported, archives.LARGE_WIDTH, "torch-export"),
        ("model.bin", archives.exported, archives.LARGE_WIDTH, "torch-export"),  # the bytes decide, not the name
    ],
)
def test_real_torch_archives_are_told_by_their_entry_list_at_any_size(name, make, width, expected):
    data = make(width)
    found = detect(name, data)
    assert (found.name, found.unsafe, found.from_header) == (expected, False, True), found.detail
    if width == archives.LARGE_WIDTH:
        assert len(data) > 4 * HEAD_BYTES


def test_the_head_alone_took_a_large_torchscript_file_for_a_plain_torch_save():
    """What registered a 34 MB TorchScript file as torch-zip: its first 64 KiB are weights."""
    data = archives.torchscript(archives.LARGE_WIDTH)
    assert detect_format("model.pt", data[:HEAD_BYTES]).name == "torch-zip"
    assert detect("model.pt", data).name == "torchscript"


def test_a_large_archive_costs_the_head_and_one_ranged_read_of_its_tail():
    data = archives.exported(archives.LARGE_WIDTH)
    objects, size = stored("m/v1/model.pt2", data)
    generation = objects.objects[(BUCKET, "m/v1/model.pt2")][0].generation
    assert detect_stored_format(objects, BUCKET, "m/v1/model.pt2", generation, size).name == "torch-export"
    assert objects.reads == [(BUCKET, "m/v1/model.pt2", generation)]
    [(_, _, at_generation, start, length)] = objects.ranges
    assert (at_generation, start + length) == (generation, size)


def test_a_central_directory_longer_than_the_tail_is_read_with_one_more_range():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data/0", b"\0" * 200_000)
        for i in range(2_000):  # ~170 KB of directory
            archive.writestr(f"archive/data/{i + 1}-{'x' * 40}", b"")
        archive.writestr("archive/code/__torch__/m.py", b"")
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    objects, size = stored("m/v1/model.pt", buffer.getvalue())
    generation = objects.objects[(BUCKET, "m/v1/model.pt")][0].generation
    assert detect_stored_format(objects, BUCKET, "m/v1/model.pt", generation, size).name == "torchscript"
    assert len(objects.ranges) == 2


def test_an_archive_with_the_longest_comment_is_still_read():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data/0", b"\0" * 100_000)
        archive.writestr("archive/constants.pkl", b"\x80\x02)q\x00.")
        archive.comment = b"c" * 0xFFFF
    assert detect("model.pt", buffer.getvalue()).name == "torchscript"


def test_a_directory_past_the_cap_leaves_the_head_s_verdict_and_says_why(monkeypatch):
    monkeypatch.setattr("shared.artifact_format.MAX_DIRECTORY_BYTES", 1000)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data/0", b"\0" * 200_000)
        for i in range(2_000):
            archive.writestr(f"archive/data/{i + 1}-{'x' * 40}", b"")
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    found = detect("model.pt", buffer.getvalue())
    assert found.name == "torch-zip" and "central directory not read" in found.detail
    assert MAX_DIRECTORY_BYTES >= 16 * 1024 * 1024  # the real cap


@pytest.mark.parametrize(
    ("how", "expected_detail"),
    [
        ("truncated", "unreadable"),
        ("size-lies-larger", "could not be read"),
        ("size-lies-smaller", "unreadable"),
    ],
)
def test_a_truncated_or_misdescribed_archive_falls_back_to_the_head(how, expected_detail):
    data = archives.torchscript(archives.LARGE_WIDTH)
    if how == "truncated":
        found = detect("model.pt", data[: len(data) // 2])
    elif how == "size-lies-larger":
        found = detect("model.pt", data, size=len(data) * 2)
    else:
        found = detect("model.pt", data, size=len(data) - 100)
    assert found.name == "torch-zip" and expected_detail in found.detail


@pytest.mark.parametrize("size", [2**63 - 1, 5 * 1024**4 + 1, 21])
def test_an_event_size_no_object_has_leaves_the_head_s_verdict_without_a_ranged_read(size):
    data = archives.torchscript(archives.SMALL_WIDTH)
    objects, size = stored("model.pt", data, size)
    generation = objects.objects[(BUCKET, "model.pt")][0].generation
    assert detect_stored_format(objects, BUCKET, "model.pt", generation, size).name == "torchscript"
    assert objects.ranges == []


def test_a_version_gone_before_its_tail_was_read_falls_back_to_the_head():
    data = archives.exported(archives.LARGE_WIDTH)
    objects, size = stored("model.pt2", data)
    generation = objects.objects[(BUCKET, "model.pt2")][0].generation
    objects.read_range = lambda *args: None  # type: ignore[method-assign]  # overwritten meanwhile
    found = detect_stored_format(objects, BUCKET, "model.pt2", generation, size)
    assert found.from_header and "tail could not be read" in found.detail


def test_a_pt2_name_on_bytes_that_are_no_archive_is_unknown():
    assert detect("model.pt2", b"not a zip at all").name == "unknown"
    assert detect_format("model.pt2", None).name == "torch-export"  # by name only, and it says so


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=0, max_value=400),
    flips=st.lists(st.tuples(st.integers(min_value=1, max_value=400), st.integers(0, 255)), max_size=6),
    size_delta=st.sampled_from([0, 0, 0, -1, 1, -22, 10_000]),
)
def test_forged_tails_never_raise(cut, flips, size_delta):
    """The directory's records are the uploader's bytes: any of them may lie."""
    data = bytearray(archives.torchscript(archives.SMALL_WIDTH))
    for back, value in flips:  # counted from the end: the EOCD, zip64 records and the directory
        data[-min(back, len(data))] = value
    data = bytes(data[: len(data) - cut])
    found = detect("model.pt", data, size=max(0, len(data) + size_delta))
    assert found.name in {"torchscript", "torch-zip", "torch-export", "zip", "unknown", "empty"}


@given(st.binary(max_size=2_000))
@settings(max_examples=300, deadline=None)
def test_any_bytes_after_a_zip_magic_never_raise(tail):
    found = detect("model.pt", b"PK\x03\x04" + tail)
    assert found.from_header


def test_register_model_records_a_large_pt2_and_a_large_torchscript_file_as_what_they_are():
    deps = FakeDeps()
    for name, data in (
        ("ct/v1/model.pt2", archives.exported(archives.LARGE_WIDTH)),
        ("ct/v2/model.pt", archives.torchscript(archives.LARGE_WIDTH)),
    ):
        obj = deps.objects.put(BUCKET, name, data)
        event = StorageObjectEvent(
            event_id=f"evt-{name}",
            change=StorageChange.FINALIZED,
            event_time=datetime(2026, 12, 5, tzinfo=UTC),
            bucket=BUCKET,
            name=name,
            generation=obj.generation,
            size=len(data),
        )
        outcome = register_model.handle(event, deps)
        assert outcome.status is Status.APPLIED, outcome.detail
    formats = {row["path"]: row["format"] for row in deps.registry.rows.values()}
    assert formats == {"model.pt2": "torch-export", "model.pt": "torchscript"}
