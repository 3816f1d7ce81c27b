"""Where a model lives and what its bytes are."""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile

import pytest

from shared.artifact_format import detect_format
from shared.model_path import ModelLocation, NotAModel, bucket_env, locate_model


@pytest.mark.parametrize(
    ("bucket", "pattern", "env"),
    [
        ("ml-models-dev", "ml-models-{env}", "dev"),
        ("ml-models-prod-eu", "ml-models-{env}", "prod-eu"),
        ("acme-staging-models", "acme-{env}-models", "staging"),
        ("ml-models-", "ml-models-{env}", None),
        ("ml-data-dev", "ml-models-{env}", None),
    ],
)
def test_bucket_env(bucket, pattern, env):
    assert bucket_env(bucket, pattern) == env


def test_a_pattern_without_env_is_a_configuration_error():
    with pytest.raises(ValueError, match="exactly once"):
        bucket_env("x", "ml-models")


def test_nested_paths_inside_the_version_folder_are_kept():
    assert locate_model("ml-models-dev", "bert/v12/tokenizer/vocab.json") == ModelLocation(
        "dev", "bert", 12, "tokenizer/vocab.json"
    )


@pytest.mark.parametrize(
    "name",
    [
        "bert/v1/",
        "bert/v1",
        "bert/V1/model.pt",
        "bert/v1.2/model.pt",
        "bert/v1//model.pt",
        "bert/v1/.model.pt.swp",
        "bert/v1/model.pt.crdownload",
        "bert/v1/model.pt~",
        "-bad/v1/model.pt",
        "bert/v01/model.pt",
    ],
)
def test_not_model_artifacts(name):
    assert isinstance(locate_model("ml-models-dev", name), NotAModel)


def safetensors(header: dict) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\x00" * 16


def torch_zip(first: str = "archive/data.pkl") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(first, b"\x80\x02}q\x00.")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "head", "expected", "unsafe"),
    [
        (
            "m.safetensors",
            safetensors({"w": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}}),
            "safetensors",
            False,
        ),
        ("model.pt", torch_zip(), "torch-zip", False),
        ("model.pt", pickle.dumps({"a": 1}, protocol=2), "pickle", True),  # the header wins over the name
        ("weights.bin", torch_zip("pytorch_model/data.pkl"), "torch-zip", False),
        ("model.onnx", b"\x08\x07\x12\x07pytorch", "onnx", False),
        ("model.pkl", pickle.dumps([1, 2], protocol=4), "pickle", True),
        ("model.joblib", pickle.dumps([1, 2], protocol=4), "joblib", True),
        ("model.h5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 8, "hdf5", False),
        ("model.safetensors", b"definitely not", "unknown", False),
        ("model.onnx", b"", "empty", False),
        ("config.json", b'{"a": 1}', "json", False),
    ],
)
def test_format_from_header_bytes(name, head, expected, unsafe):
    found = detect_format(name, head)
    assert (found.name, found.unsafe) == (expected, unsafe)


def test_safetensors_header_is_summarised():
    head = safetensors({"__metadata__": {}, "a": {"dtype": "F32"}, "b": {"dtype": "BF16"}})
    assert detect_format("m.safetensors", head).detail == "2 tensors, dtypes BF16,F32"


def test_without_header_bytes_the_name_decides_and_says_so():
    found = detect_format("m.pkl", None)
    assert (found.name, found.unsafe, found.from_header) == ("pickle", True, False)


def test_a_real_torchscript_file_is_told_from_a_plain_torch_save():
    # torch 2.x's jit.save writes the tensor data first (`archive/data/0`), then code/ and constants.pkl.
    import io

    import torch

    from shared.artifact_format import detect_format

    scripted, saved = io.BytesIO(), io.BytesIO()
    torch.jit.save(torch.jit.script(torch.nn.Linear(3, 1)), scripted)
    torch.save({"weight": torch.zeros(3)}, saved)
    assert detect_format("model.pt", scripted.getvalue()[:65536]).name == "torchscript"
    assert detect_format("weights.pt", saved.getvalue()[:65536]).name == "torch-zip"
