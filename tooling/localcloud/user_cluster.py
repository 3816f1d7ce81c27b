"""`up --kubeconfig FILE [--context C]`: the rollout Lambda drives the user's cluster (kind, k3d, k3s...) instead
of the Kubernetes API test server.

The Lambda reads its kubeconfig from Secrets Manager (moto), as in the cloud, so the chosen context goes there
as one self-contained document: only that context, its cluster and its user, with the files they name
(certificate authority, client certificate and key, token file) read in as data, since a document in a
secret has no folder to resolve them against. An exec or auth-provider user is kept as it is: the Lambda
runs on this machine, so the plugin does too.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from shared.errors import ConfigError

# kubeconfig fields that name a file, and the field carrying the same content inline.
_FILE_FIELDS = {
    "cluster": {"certificate-authority": "certificate-authority-data"},
    "user": {"client-certificate": "client-certificate-data", "client-key": "client-key-data"},
}


def _named(entries: Any, name: str, kind: str, path: Path) -> dict[str, Any]:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return dict(entry.get(kind) or {})
    raise ConfigError(f"--kubeconfig {path}: no {kind} {name!r}")


def _inline(section: dict[str, Any], kind: str, folder: Path, path: Path) -> dict[str, Any]:
    section = dict(section)
    for field, data_field in _FILE_FIELDS[kind].items():
        if field in section:
            named = Path(str(section.pop(field))).expanduser()
            named = named if named.is_absolute() else folder / named  # kubectl's rule: relative to the kubeconfig
            try:
                section[data_field] = base64.b64encode(named.read_bytes()).decode()
            except OSError as exc:
                raise ConfigError(f"--kubeconfig {path}: {kind} {field} {named}: {exc.strerror}") from None
    if kind == "user" and "tokenFile" in section:
        named = Path(str(section.pop("tokenFile"))).expanduser()
        named = named if named.is_absolute() else folder / named
        try:
            section["token"] = named.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"--kubeconfig {path}: user tokenFile {named}: {exc.strerror}") from None
    return section


def user_kubeconfig(path: Path, context: str | None = None) -> tuple[str, str, str]:
    """(the self-contained kubeconfig document, the context's name, its API server URL); ConfigError naming what
    is missing (the file, the context with those the file has, its cluster or user)."""
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"--kubeconfig {path}: {exc.strerror}") from None
    except yaml.YAMLError:
        raise ConfigError(f"--kubeconfig {path}: not YAML") from None
    if not isinstance(document, dict):
        raise ConfigError(f"--kubeconfig {path}: not a kubeconfig")
    contexts = [str(c.get("name")) for c in document.get("contexts") or [] if isinstance(c, dict)]
    listed = ", ".join(contexts) or "none"
    name = context or document.get("current-context")
    if not name:
        raise ConfigError(f"--kubeconfig {path}: no current-context; name one with --context ({listed})")
    if name not in contexts:
        raise ConfigError(
            f"--kubeconfig {path}: no context {name!r}; it has: {', '.join(map(str, contexts)) or 'none'}"
        )
    chosen = _named(document.get("contexts"), name, "context", path)
    folder = path.resolve().parent
    cluster = _inline(
        _named(document.get("clusters"), chosen.get("cluster", ""), "cluster", path), "cluster", folder, path
    )
    user = _inline(_named(document.get("users"), chosen.get("user", ""), "user", path), "user", folder, path)
    if not cluster.get("server"):
        raise ConfigError(f"--kubeconfig {path}: cluster {chosen.get('cluster')!r} has no server")
    single = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": name,
        "clusters": [{"name": chosen["cluster"], "cluster": cluster}],
        "users": [{"name": chosen["user"], "user": user}],
        "contexts": [{"name": name, "context": chosen}],
    }
    return yaml.safe_dump(single), name, str(cluster["server"])
