"""`up --import DIR` / `--export-on-exit DIR`: the emulators' data kept across restarts, as Firebase's emulators
keep theirs.

Each emulator keeps what it can in its own way, in a folder of DIR:

- `gcs/`: fake-gcs-server's filesystem backend (one file per object, its metadata and generation in an
  extended attribute). While `up` runs it works on a copy in `<state-dir>/data/gcs`.
- `firestore/`: the Firestore emulator's own export (`firestore.overall_export_metadata`), loaded with
  `--import-data`; written through its export API before it stops (a signal would not wait for
  `--export-on-exit`).
- `bigquery/`: bqemulator's persistent DuckDB data dir, worked on as a copy like gcs/.
- `moto/recording.jsonl`: moto keeps nothing on disk; its recorder logs every request and the log is replayed
  into the next server. Reads are dropped from the log on export (the ECR poll alone adds one a second).
- Pub/Sub keeps nothing (no emulator export): its topics and subscriptions are created from the manifest at
  every start; messages not yet delivered when `up` stopped are lost. The Kubernetes API test server's
  Deployments start again at their bootstrap image.

`export.json` says when and from which state dir the export was written and what each folder holds. The
export goes to a sibling folder first and replaces DIR whole only once complete; emulators `up --only` did
not start keep what the import had.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.errors import ConfigError

FOLDERS = {"gcs": "gcs", "firestore": "firestore", "bigquery": "bigquery", "moto": "moto"}
FIRESTORE_EXPORT_NAME = "firestore"
MOTO_RECORDING = "recording.jsonl"
# An AWS operation whose name starts so changes nothing worth replaying (ReceiveMessage only hides a message
# for its visibility timeout: dropping it leaves the message there, as after that timeout).
_READ_PREFIXES = ("Describe", "Get", "List", "BatchGet", "Scan", "Query", "Receive", "Head")


@dataclass(frozen=True)
class Persistence:
    work: Path  # <state-dir>/data: the emulators' live data while up runs
    import_dir: Path | None = None
    export_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.import_dir is not None and not self.import_dir.is_dir() and self.import_dir != self.export_dir:
            raise ConfigError(f"--import {self.import_dir}: no such folder (an --export-on-exit writes one)")

    @property
    def enabled(self) -> bool:
        return self.import_dir is not None or self.export_dir is not None

    def _imported(self, name: str) -> Path | None:
        if self.import_dir is None:
            return None
        folder = self.import_dir / FOLDERS[name]
        return folder if folder.exists() else None

    def prepare(self) -> None:
        """A fresh working copy of what DIR holds, so that DIR itself is only ever replaced whole."""
        if not self.enabled:
            return
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        for name in ("gcs", "bigquery", "moto"):
            source = self._imported(name)
            if source is not None:
                shutil.copytree(source, self.work / FOLDERS[name])  # copy2: the objects' xattrs come along

    # -- what each emulator starts with --------------------------------------------------------------------
    def gcs_root(self) -> Path | None:
        return self.work / FOLDERS["gcs"] if self.enabled else None

    def bigquery_dir(self) -> Path | None:
        if not self.enabled:
            return None
        folder = self.work / FOLDERS["bigquery"]
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def moto_recording(self) -> Path | None:
        if not self.enabled:
            return None
        path = self.work / FOLDERS["moto"] / MOTO_RECORDING
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        return path

    def moto_has_recording(self) -> bool:
        path = self.work / FOLDERS["moto"] / MOTO_RECORDING
        return self.enabled and path.is_file() and path.stat().st_size > 0

    def firestore_import(self) -> Path | None:
        folder = self._imported("firestore")
        if folder is None:
            return None
        metadata = folder / FIRESTORE_EXPORT_NAME / f"{FIRESTORE_EXPORT_NAME}.overall_export_metadata"
        return metadata if metadata.is_file() else None

    # -- export ----------------------------------------------------------------------------------------------
    def staging(self) -> Path:
        assert self.export_dir is not None
        return self.export_dir.parent / f".{self.export_dir.name}.exporting"

    def begin_export(self) -> Path:
        """An empty staging folder beside DIR; the live exports (Firestore's) go into it."""
        staging = self.staging()
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        return staging

    def finish_export(self, running: Iterable[str], *, state_dir: Path, project: str) -> dict[str, Any]:
        """Once the emulators stopped: their data into the staging folder, what they did not run carried over
        from the import, then the staging folder replaces DIR. Returns what export.json says."""
        assert self.export_dir is not None
        staging = self.staging()
        running = set(running)
        for name in ("gcs", "bigquery"):
            source = self.work / FOLDERS[name]
            if name in running and source.exists():
                shutil.copytree(source, staging / FOLDERS[name])
        if "moto" in running:
            recording = self.work / FOLDERS["moto"] / MOTO_RECORDING
            if recording.is_file():
                (staging / FOLDERS["moto"]).mkdir()
                kept = mutations(recording.read_text().splitlines())
                (staging / FOLDERS["moto"] / MOTO_RECORDING).write_text("".join(line + "\n" for line in kept))
        for name, folder in FOLDERS.items():  # `up --only` did not run it: keep what the import had
            imported = self._imported(name)
            if name not in running and imported is not None and not (staging / folder).exists():
                shutil.copytree(imported, staging / folder)
        held = sorted(name for name, folder in FOLDERS.items() if (staging / folder).exists())
        summary = {
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "state_dir": str(state_dir),
            "project": project,
            "holds": held,
            "not_kept": "Pub/Sub messages not yet delivered (topics and subscriptions come from the manifest); "
            "the Kubernetes API test server's Deployments",
        }
        (staging / "export.json").write_text(json.dumps(summary, indent=2) + "\n")
        _replace(self.export_dir, staging)
        return summary


def _replace(target: Path, staging: Path) -> None:
    """`staging` becomes `target`; the old `target` is removed only once the new one is in place."""
    old = target.parent / f".{target.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def mutations(lines: Iterable[str]) -> list[str]:
    """The recorded requests that change moto's state, in order (reads dropped)."""
    kept = []
    for line in lines:
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut short when moto stopped
        if not _is_read(entry):
            kept.append(line)
    return kept


def _is_read(entry: dict[str, Any]) -> bool:
    headers = {str(k).lower(): v for k, v in (entry.get("headers") or {}).items()}
    action = str(headers.get("x-amz-target", "")).rsplit(".", 1)[-1]
    if not action:  # the query protocol: Action= in the URL or the form body
        query = urllib.parse.urlsplit(str(entry.get("url", ""))).query
        body = entry.get("body") if not entry.get("body_encoded") and isinstance(entry.get("body"), str) else ""
        fields = urllib.parse.parse_qs(query) | urllib.parse.parse_qs(body or "")
        action = (fields.get("Action") or [""])[0]
    if not action:
        return str(entry.get("method", "")).upper() in ("GET", "HEAD")  # REST (S3): reads are GETs
    return action.startswith(_READ_PREFIXES)
