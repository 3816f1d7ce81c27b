"""Tell what kind of model file an object is from its name and its bytes, without torch.

The header wins over the extension: a `.pt` that is really a pickle is flagged as the pickle it is.
Pickle-based formats run code when loaded, so they are marked `unsafe`.

A zip archive (torch.save, TorchScript, a torch.export `.pt2`) is told by its entry list, read from the
central directory at the end of the object (`detect_stored_format`: a ranged read of the tail, and of the
directory where it starts before that tail), whatever the archive's size: torch writes the tensors
first, so in a 34 MB TorchScript file the first 64 KiB are weights, and its `code/` entries come after.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.ports import ObjectStore

# Enough for the zip local header of a torch archive, an ONNX preamble, and most safetensors headers.
HEAD_BYTES = 64 * 1024
# The end of a zip: its end-of-central-directory record (22 bytes and a comment of up to 64 KiB), with
# the zip64 locator and record before it (20 + 56 bytes). One ranged read of this much finds it.
TAIL_BYTES = 22 + 0xFFFF + 20 + 56
# The most central directory read: ~100 bytes per entry, so about 160,000 entries (a torch archive has one
# per tensor). Past it the format is told from the head alone, and says so.
MAX_DIRECTORY_BYTES = 16 * 1024 * 1024
MAX_OBJECT_BYTES = 5 * 1024**4  # GCS's largest object (5 TiB)
_SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024  # the format's own limit

_EXTENSIONS = {
    ".safetensors": "safetensors",
    ".pt": "torch",
    ".pth": "torch",
    ".bin": "torch",
    ".ckpt": "torch",
    ".pt2": "torch-export",
    ".onnx": "onnx",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".joblib": "joblib",
    ".h5": "hdf5",
    ".keras": "keras",
    ".gguf": "gguf",
    ".json": "json",
    ".txt": "text",
    ".yaml": "yaml",
    ".yml": "yaml",
}
_UNSAFE = {"pickle", "joblib", "torch-legacy-pickle"}


@dataclass(frozen=True)
class ArtifactFormat:
    # safetensors | torchscript | torch-export | torch-zip | zip | torch-legacy-pickle | onnx | pickle | joblib |
    # hdf5 | ... | unknown
    name: str
    unsafe: bool
    detail: str
    from_header: bool  # False when only the file name could be used

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "unsafe": self.unsafe, "detail": self.detail, "from_header": self.from_header}


def _extension(name: str) -> str:
    base = name.rsplit("/", 1)[-1].lower()
    return base[base.rfind(".") :] if "." in base else ""


def _by_name(name: str, why: str) -> ArtifactFormat:
    fmt = _EXTENSIONS.get(_extension(name), "unknown")
    if fmt == "torch":
        fmt = "torch-zip"  # what torch.save writes since 1.6; unverified without the header
    return ArtifactFormat(fmt, fmt in _UNSAFE, why, from_header=False)


def _safetensors(head: bytes) -> ArtifactFormat | None:
    if len(head) < 10:
        return None
    (header_len,) = struct.unpack("<Q", head[:8])
    if not 2 <= header_len <= _SAFETENSORS_MAX_HEADER or head[8:9] != b"{":
        return None
    raw = head[8 : 8 + header_len]
    if len(raw) < header_len:
        return ArtifactFormat("safetensors", False, f"JSON header of {header_len} bytes (not parsed)", True)
    try:
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict):
        return None
    tensors = {k: v for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)}
    dtypes = sorted({str(t.get("dtype")) for t in tensors.values()})
    return ArtifactFormat("safetensors", False, f"{len(tensors)} tensors, dtypes {','.join(dtypes)}", True)


def _zip(head: bytes) -> ArtifactFormat | None:
    if head[:4] != b"PK\x03\x04" or len(head) < 30:
        return None
    (name_len,) = struct.unpack("<H", head[26:28])
    first = head[30 : 30 + name_len].decode("utf-8", "replace")
    # torch.save and torch.jit.save both write `<archive>/...` entries with a pickle inside; recent
    # torch.jit.save puts the tensor data first (`archive/data/0`), so the entry names seen anywhere in
    # the head tell TorchScript (its `code/` and `constants.pkl`) from a plain torch.save.
    archive = first.split("/", 1)[0] + "/" if "/" in first else ""
    torch_entry = first.endswith(".pkl") or (
        archive
        and (first[len(archive) :] in {"data.pkl", "version", "byteorder"} or first[len(archive) :].startswith("data/"))
    )
    if f"{archive}archive_format".encode() in head or f"{archive}models/".encode() in head:
        return ArtifactFormat(
            "torch-export", False, f"zip archive, first entry {first!r}: a torch.export program", True
        )
    if torch_entry:
        scripted = f"{archive}constants.pkl".encode() in head or f"{archive}code/".encode() in head
        kind = "torchscript" if scripted else "torch-zip"
        return ArtifactFormat(
            kind, False, f"zip archive, first entry {first!r}; holds a pickle: load with weights_only=True", True
        )
    return ArtifactFormat("zip", False, f"zip archive, first entry {first!r}", True)


def _pickle(head: bytes) -> ArtifactFormat | None:
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        # torch's legacy (pre-1.6) format starts with a pickled magic number 0x1950a86a20f9469cfc6c.
        if head[2:3] == b"\x8a" and b"\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19" in head[:32]:
            return ArtifactFormat("torch-legacy-pickle", True, "legacy torch.save pickle: runs code on load", True)
        return ArtifactFormat("pickle", True, f"pickle protocol {head[1]}: runs code on load", True)
    return None


def _onnx(name: str, head: bytes) -> ArtifactFormat | None:
    # ModelProto starts with field 1 (ir_version, varint): tag byte 0x08, then a small version number.
    if (
        len(head) >= 2
        and head[0] == 0x08
        and 3 <= head[1] <= 20
        and (_extension(name) == ".onnx" or b"onnx" in head[:256].lower())
    ):
        return ArtifactFormat("onnx", False, f"ONNX ModelProto, IR version {head[1]}", True)
    return None


def detect_format(name: str, head: bytes | None) -> ArtifactFormat:
    """Best evidence first: header bytes when we have them, then the extension."""
    if head is None:
        return _by_name(name, "object not readable; format from the file name only")
    if not head:
        return ArtifactFormat("empty", False, "zero-byte object", True)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return ArtifactFormat("hdf5", False, "HDF5 file (Keras .h5)", True)
    if head.startswith(b"GGUF"):
        return ArtifactFormat("gguf", False, "GGUF model file", True)
    for found in (_safetensors(head), _zip(head), _pickle(head), _onnx(name, head)):
        if found is not None:
            if found.name == "pickle" and _extension(name) == ".joblib":
                return ArtifactFormat("joblib", True, "joblib pickle: runs code on load", True)
            return found
    guess = _by_name(name, "header not recognised; format from the file name")
    if guess.name in {"safetensors", "torch-zip", "torch-export", "onnx", "pickle", "hdf5", "gguf"}:
        # The extension promises a format the bytes do not have: say so instead of trusting it.
        return ArtifactFormat("unknown", False, f"named {_extension(name)} but the header does not match", True)
    return guess


def classify_zip_entries(names: Sequence[str]) -> ArtifactFormat:
    """A zip archive by its entry list: a torch.export program, TorchScript, a torch.save, or another zip."""
    if not names:
        return ArtifactFormat("zip", False, "zip archive without entries", True)
    first = names[0]
    archive = first.split("/", 1)[0] + "/" if "/" in first else ""
    inside = {n[len(archive) :] for n in names if n.startswith(archive)} if archive else set(names)
    count = f"{len(names)} entries"
    if "archive_format" in inside or any(n.startswith("models/") and n.endswith(".json") for n in inside):
        return ArtifactFormat("torch-export", False, f"torch.export program (.pt2), {count}", True)
    if "serialized_exported_program.json" in inside:  # the layout torch.export.save wrote before 2.6
        return ArtifactFormat("torch-export", False, f"torch.export program (.pt2, pre-2.6 layout), {count}", True)
    if "constants.pkl" in inside or any(n.startswith("code/") for n in inside):
        return ArtifactFormat("torchscript", False, f"TorchScript archive, {count}; holds a pickle", True)
    if "data.pkl" in inside:
        return ArtifactFormat(
            "torch-zip", False, f"torch.save archive, {count}; holds a pickle: load with weights_only=True", True
        )
    return ArtifactFormat("zip", False, f"zip archive, {count}, first entry {first!r}", True)


RangeReader = Callable[[int, int], "bytes | None"]  # (start, length) -> those bytes, None when the object is gone


class _TooLarge(Exception):
    pass


class _RangedFile(io.RawIOBase):
    """A read-only file over an object's ranged reads, for zipfile: the head and the tail come from what
    was read already; any other range (the central directory, when it starts before the tail) is read
    once, at most MAX_DIRECTORY_BYTES."""

    def __init__(self, size: int, known: list[tuple[int, bytes]], read_range: RangeReader) -> None:
        self._size, self._known, self._read_range, self._pos = size, known, read_range, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of the object")
        self._pos = base + offset
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        start = self._pos
        if end <= start:
            return b""
        for offset, data in self._known:
            if offset <= start and end <= offset + len(data):
                self._pos = end
                return data[start - offset : end - offset]
        if end - start > MAX_DIRECTORY_BYTES:
            raise _TooLarge(f"a read of {end - start} bytes")
        data = self._read_range(start, end - start) or b""
        self._known.append((start, data))
        self._pos = start + len(data)
        return data


def zip_entry_names(size: int, head: bytes, read_range: RangeReader) -> list[str] | str:
    """The entry names from the central directory, or why they could not be read."""
    import zipfile  # here, not at the top: only zip archives need it, and the functions' cold start counts

    tail_start = max(0, size - TAIL_BYTES)
    tail = head[tail_start:size] if len(head) >= size else read_range(tail_start, size - tail_start)
    if not tail:
        return "the object's tail could not be read"
    try:
        with zipfile.ZipFile(_RangedFile(size, [(0, head), (tail_start, tail)], read_range)) as archive:
            return archive.namelist()
    except _TooLarge as exc:
        return f"central directory not read ({exc}, at most {MAX_DIRECTORY_BYTES})"
    # zipfile's errors on bytes that are not what their records claim (a truncated or forged archive).
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, struct.error, OSError, EOFError, IndexError) as exc:
        return f"central directory unreadable: {type(exc).__name__}: {exc}"[:200]


def detect_stored_format(
    objects: ObjectStore, bucket: str, name: str, generation: int | None, size: int | None
) -> ArtifactFormat:
    """An object version's format: its head, and for a zip archive its central directory (two ranged reads
    for most archives, pinned to `generation`)."""
    head = objects.read_head(bucket, name, generation, HEAD_BYTES)
    found = detect_format(name, head)
    if head is None or not head.startswith(b"PK\x03\x04") or not size or not 22 <= size <= MAX_OBJECT_BYTES:
        return found  # an event's size past what a bucket holds is not the object's: the head decides

    def read_range(start: int, length: int) -> bytes | None:
        return objects.read_range(bucket, name, generation, start, length)

    entries = zip_entry_names(size, head, read_range)
    if isinstance(entries, str):
        return ArtifactFormat(found.name, found.unsafe, f"{found.detail}; {entries}", True)
    return classify_zip_entries(entries)
