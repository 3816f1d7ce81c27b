"""`up --kubeconfig FILE --context C`: the one context that goes to the Lambda's secret, files read in."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from shared.errors import ConfigError
from tooling.localcloud.user_cluster import user_kubeconfig


def write(folder: Path, config: dict) -> Path:
    path = folder / "config"
    path.write_text(yaml.safe_dump(config))
    return path


CONFIG = {
    "current-context": "a",
    "clusters": [
        {"name": "ca", "cluster": {"server": "https://a:6443", "certificate-authority": "certs/ca.pem"}},
        {"name": "cb", "cluster": {"server": "https://b:6443"}},
    ],
    "users": [
        {"name": "ua", "user": {"client-certificate": "certs/client.crt", "client-key": "certs/client.key"}},
        {"name": "ub", "user": {"exec": {"command": "aws", "args": ["eks", "get-token"]}}},
    ],
    "contexts": [
        {"name": "a", "context": {"cluster": "ca", "user": "ua", "namespace": "ml"}},
        {"name": "b", "context": {"cluster": "cb", "user": "ub"}},
    ],
}


def test_the_current_context_alone_with_its_files_read_in(tmp_path: Path):
    (tmp_path / "certs").mkdir()
    for name in ("ca.pem", "client.crt", "client.key"):
        (tmp_path / "certs" / name).write_text(f"<{name}>")
    document, context, server = user_kubeconfig(write(tmp_path, CONFIG))
    single = yaml.safe_load(document)
    assert (context, server) == ("a", "https://a:6443")
    assert single["current-context"] == "a" and [c["name"] for c in single["contexts"]] == ["a"]
    cluster, user = single["clusters"][0]["cluster"], single["users"][0]["user"]
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"<ca.pem>"
    assert base64.b64decode(user["client-key-data"]) == b"<client.key>"
    assert "certificate-authority" not in cluster and "client-key" not in user


def test_another_context_keeps_an_exec_user_as_it_is(tmp_path: Path):
    document, context, _ = user_kubeconfig(write(tmp_path, CONFIG), "b")
    single = yaml.safe_load(document)
    assert context == "b" and single["users"][0]["user"]["exec"]["command"] == "aws"
    assert [c["name"] for c in single["clusters"]] == ["cb"]


@pytest.mark.parametrize(
    ("context", "message"),
    [("nope", "no context 'nope'; it has: a, b"), ("a", "cluster certificate-authority")],
)
def test_what_is_missing_is_named(tmp_path: Path, context: str, message: str):
    with pytest.raises(ConfigError, match=message):
        user_kubeconfig(write(tmp_path, CONFIG), context)  # no certs/ folder: the CA file is missing
