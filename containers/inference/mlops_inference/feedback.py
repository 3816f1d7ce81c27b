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
STATS_LIMIT = 10_000  # the entries Firestore's /feedback/stats summary reads at most (not the gauges: exact)
# The composite index Firestore's accuracy aggregation scans: its filters, then the averaged field (Terraform's
# google_firestore_index.feedback_accuracy in modules/registry declares it; a test holds the two equal).
ACCURACY_INDEX = ("model", "env", "version", "joined", "hit")


def _key(entry: dict[str, Any]) -> str:
    raw = f"{entry['model']}|{entry['env']}|{entry['request_id']}|{entry['row']}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _iso(value: datetime | str) -> str:
    return value.isoformat() if isinstance(value, datetime) else value


def _hit(entry: dict[str, Any]) -> int | None:
    """1 where the joined prediction was right at 0.5, 0 where wrong; None for an entry not joined."""
    if not entry.get("joined") or entry.get("prediction") is None:
        return None
    return int((float(entry["prediction"]) >= 0.5) == (float(entry["label"]) >= 0.5))


def _scored(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry with its `hit`, or without one where it has no prediction to score (a null `hit` would
    still count in Firestore's COUNT beside AVG: only a missing field leaves a document out of both)."""
    hit = _hit(entry)
    rest = {k: v for k, v in entry.items() if k != "hit"}
    return rest if hit is None else {**rest, "hit": hit}


def summarize(entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    by_version: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        by_version[entry.get("version")].append(entry)

    def summary(group: list[dict[str, Any]]) -> dict[str, Any]:
        scored = [(e, hit) for e in group if (hit := _hit(e)) is not None]
        labelled = [e for e, _ in scored]
        out: dict[str, Any] = {
            "labels": len(group),
            "positive_share": sum(1 for e in group if float(e["label"]) >= 0.5) / len(group),
            "with_prediction": len(labelled),
        }
        if labelled:
            out["accuracy"] = sum(hit for _, hit in scored) / len(labelled)
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

    def version_accuracy(self, model: str, env: str, version: int) -> dict[str, Any]:
        labels, hits = (
            connection(self._path)
            .execute(
                "SELECT count(*), sum((prediction >= 0.5) = (label >= 0.5)) FROM feedback"
                " WHERE model = ? AND env = ? AND version = ? AND joined = 1 AND prediction IS NOT NULL",
                (model, env, version),
            )
            .fetchone()
        )
        return {"with_prediction": labels, **({"accuracy": hits / labels} if labels else {})}

    def stats(self, model: str, env: str) -> dict[str, Any]:
        rows = connection(self._path).execute("SELECT * FROM feedback WHERE model = ? AND env = ?", (model, env))
        return summarize(dict(r) for r in rows)


class FirestoreFeedbackStore:
    """`feedback/{hash}` documents. A joined entry also holds `hit` (1: its prediction was right at 0.5), so
    the accuracy of a version is one aggregation query (AVG over an index scan), exact however many labels
    there are; `stats`, the /feedback/stats summary, reads at most STATS_LIMIT entries."""

    def __init__(self, client: Any, collection: str = "feedback") -> None:
        self._client = client
        self._collection = client.collection(collection)

    def record(self, entry: dict[str, Any]) -> None:
        from google.cloud import firestore

        from shared.adapters.gcp_errors import translate_errors

        document = self._collection.document(_key(entry))
        if entry.get("joined"):
            with translate_errors("record feedback"):
                document.set(_scored(entry))
            return

        # A label sent again after its capture left the lookup's window keeps the join it had, and its hit is
        # scored again against the new label: read and written in one transaction.
        @firestore.transactional
        def keep_join(transaction: Any) -> None:
            before = document.get(transaction=transaction)
            old = before.to_dict() if before.exists else {}
            unjoined = {k: v for k, v in entry.items() if k not in _JOIN_FIELDS}
            if old.get("joined"):
                transaction.set(document, _scored({**old, **unjoined}))
            else:
                transaction.set(document, {**unjoined, "joined": False})

        with translate_errors("record feedback"):
            keep_join(self._client.transaction())

    def version_accuracy(self, model: str, env: str, version: int) -> dict[str, Any]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        from shared.adapters.gcp_errors import translate_errors

        query = self._collection
        for name, value in zip(ACCURACY_INDEX[:-1], (model, env, version, True), strict=True):  # then AVG(hit)
            query = query.where(filter=FieldFilter(name, "==", value))
        # With AVG in the same query, COUNT counts only the documents holding `hit`: the joined entries with a
        # prediction (an entry joined before `hit` existed counts once its label is sent again).
        aggregation = query.count(alias="labels")
        aggregation.avg("hit", alias="accuracy")
        with translate_errors("read feedback accuracy"):
            [results] = aggregation.get()
        values = {result.alias: result.value for result in results}
        labels = int(values.get("labels") or 0)
        return {"with_prediction": labels, **({"accuracy": float(values["accuracy"])} if labels else {})}

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
