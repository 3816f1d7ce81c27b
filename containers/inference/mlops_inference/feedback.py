"""Ground truth sent back by the callers of /predict, and what it says about the model.

One entry per (request id, row): sending the label of a row again replaces it (callers retry). The
SQLite store is the embedded profile's; the Firestore one the cloud's (`feedback/{hash}` documents).
Both implement `shared.ports.FeedbackStore`; the service is handed one (`main.ServiceDeps`).

An entry is `joined` when /feedback found the capture of its row (`shared.ports.CapturedPredictions`):
its prediction, confidence and served_at are then what the service answered. A caller's own `prediction`
is never stored (it once let anyone set the reported accuracy). Stats: how many labels and the positive
share over all entries; over the joined ones only (`with_prediction`), accuracy at 0.5 and the mean
absolute error of the probability; per model version, since a swap changes the model. Entries stored
before joining existed have no `joined` and count as labels without a prediction.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.adapters.sqlite_files import connection, create_schema, write_transaction

_JOIN_COLUMNS = (("confidence", "REAL"), ("served_at", "TEXT"), ("joined", "INTEGER NOT NULL DEFAULT 0"))
_JOIN_FIELDS = frozenset({"prediction", "confidence", "served_at", "joined"})
# A label sent again replaces the label; a resend that found no capture (past the lookup's window) keeps the
# join an earlier send made. (SET reads the row as it was before the update, `feedback.joined` included.)
_UPSERT = (
    "INSERT INTO feedback (key, model, env, version, request_id, row, label, prediction, received_at, confidence,"
    " served_at, joined) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
    " label = excluded.label, received_at = excluded.received_at, version = excluded.version, "
    + ", ".join(
        f"{c} = CASE WHEN excluded.joined = 1 OR feedback.joined = 0 THEN excluded.{c} ELSE feedback.{c} END"
        for c in sorted(_JOIN_FIELDS)
    )
)
STATS_LIMIT = 10_000  # the most recent entries the Firestore stats read (a summary, not a warehouse query)


def _key(entry: dict[str, Any]) -> str:
    raw = f"{entry['model']}|{entry['env']}|{entry['request_id']}|{entry['row']}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _iso(value: datetime | str) -> str:
    return value.isoformat() if isinstance(value, datetime) else value


def summarize(entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    by_version: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        by_version[entry.get("version")].append(entry)

    def summary(group: list[dict[str, Any]]) -> dict[str, Any]:
        labelled = [e for e in group if e.get("joined") and e.get("prediction") is not None]
        out: dict[str, Any] = {
            "labels": len(group),
            "positive_share": sum(1 for e in group if float(e["label"]) >= 0.5) / len(group),
            "with_prediction": len(labelled),
        }
        if labelled:
            hits = sum(1 for e in labelled if (float(e["prediction"]) >= 0.5) == (float(e["label"]) >= 0.5))
            out["accuracy"] = hits / len(labelled)
            out["mean_absolute_error"] = sum(abs(float(e["prediction"]) - float(e["label"])) for e in labelled) / len(
                labelled
            )
        return out

    everything = [e for group in by_version.values() for e in group]
    return {
        **(summary(everything) if everything else {"labels": 0}),
        "by_version": {str(v): summary(g) for v, g in sorted(by_version.items(), key=lambda kv: str(kv[0]))},
    }


class SqliteFeedbackStore:
    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        create_schema(
            self._path,
            "CREATE TABLE IF NOT EXISTS feedback (key TEXT PRIMARY KEY, model TEXT, env TEXT, version INTEGER,"
            " request_id TEXT, row INTEGER, label REAL, prediction REAL, received_at TEXT)",
        )
        self._add_columns()

    def _add_columns(self) -> None:
        """The columns joining added (issue 20), on a file made before it: its rows read as not joined."""
        with write_transaction(self._path) as conn:
            have = {r[1] for r in conn.execute("PRAGMA table_info(feedback)")}
            for name, kind in _JOIN_COLUMNS:
                if name not in have:
                    conn.execute(f"ALTER TABLE feedback ADD COLUMN {name} {kind}")

    def record(self, entry: dict[str, Any]) -> None:
        with write_transaction(self._path) as conn:
            conn.execute(
                _UPSERT,
                (
                    _key(entry),
                    entry["model"],
                    entry["env"],
                    entry.get("version"),
                    entry["request_id"],
                    entry["row"],
                    entry["label"],
                    entry.get("prediction"),
                    _iso(entry["received_at"]),
                    entry.get("confidence"),
                    _iso(entry["served_at"]) if entry.get("served_at") is not None else None,
                    1 if entry.get("joined") else 0,
                ),
            )

    def stats(self, model: str, env: str) -> dict[str, Any]:
        rows = connection(self._path).execute("SELECT * FROM feedback WHERE model = ? AND env = ?", (model, env))
        return summarize(dict(r) for r in rows)


class FirestoreFeedbackStore:
    def __init__(self, client: Any, collection: str = "feedback") -> None:
        self._collection = client.collection(collection)

    def record(self, entry: dict[str, Any]) -> None:
        from shared.adapters.gcp_errors import translate_errors

        with translate_errors("record feedback"):
            if entry.get("joined"):
                self._collection.document(_key(entry)).set(entry)
            else:  # a label sent again after its capture left the lookup's window keeps the join it had
                unjoined = {k: v for k, v in entry.items() if k not in _JOIN_FIELDS}
                self._collection.document(_key(entry)).set(unjoined, merge=True)

    def stats(self, model: str, env: str) -> dict[str, Any]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        from shared.adapters.gcp_errors import translate_errors

        query = (
            self._collection.where(filter=FieldFilter("model", "==", model))
            .where(filter=FieldFilter("env", "==", env))
            .limit(STATS_LIMIT)
        )
        with translate_errors("read feedback"):
            return summarize(doc.to_dict() for doc in query.stream())
