"""Tell what kind of model file an object is from its name and its first bytes, without torch.

The header wins over the extension: a `.pt` that is really a pickle is flagged as the pickle it is.
Pickle-based formats run code when loaded, so they are marked `unsafe`.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

# Enough for the zip local header of a torch archive, an ONNX preamble, and most safetensors headers.
HEAD_BYTES = 64 * 1024
_SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024  # the format's own limit

_EXTENSIONS = {
    ".safetensors": "safetensors",
    ".pt": "torch",
    ".pth": "torch",
    ".bin": "torch",
    ".ckpt": "torch",
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
    name: str  # safetensors | torch-zip | torch-legacy-pickle | onnx | pickle | joblib | hdf5 | ... | unknown
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
    if guess.name in {"safetensors", "torch-zip", "onnx", "pickle", "hdf5", "gguf"}:
        # The extension promises a format the bytes do not have: say so instead of trusting it.
        return ArtifactFormat("unknown", False, f"named {_extension(name)} but the header does not match", True)
    return guess
