"""RegistryStore on Firestore: the registry the functions and the CLI read (BigQuery keeps the history).

Layout, under `collection` (default `models`):

    {collection}/{model}                      {model, latest: {env: {version, updated_at}}}
    {collection}/{model}/envs/{env}           {env, model, latest_version, updated_at}: the pointer readers use
    {collection}/{model}/versions/{N}         {model, version, artifacts: {sha256(record_key): row}}
    {collection}_keys/{sha256(record_key)}    {record_key, bucket, env, model, version}: record_key -> its version doc

A row is `ModelArtifact.to_row()` with `metadata` as a map. A version document holds the rows of every
env for that version (model names repeat across envs), so each row carries its env and `latest` is
derived per env from the rows, never stored blindly. Model names are valid document ids by
construction (shared.model_path allows `[A-Za-z0-9][A-Za-z0-9._-]*`); record keys hold `/` and `#`,
hence the hashes. A version document stays far below Firestore's 1 MiB limit for any real model
(a row is well under 1 KiB).

Every write happens in one transaction that reads what it changes, so concurrent deliveries for the
same model serialise, and a redelivery finds its row and changes nothing.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.adapters._gcp_errors import translate_errors
from shared.model_registry import (
    DeleteResult,
    ModelArtifact,
    ModelSummary,
    ObjectRef,
    RecordResult,
    is_live,
    latest_live_version,
)

if TYPE_CHECKING:
    from google.cloud import firestore

# Concurrent uploads of one model's files abort each other's transactions; each retry re-reads.
_MAX_ATTEMPTS = 10


def _hash(record_key: str) -> str:
    return hashlib.sha256(record_key.encode("utf-8")).hexdigest()


def _sort_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["env"], int(row["version"]), row["path"], int(row["generation"]))


class FirestoreRegistryStore:
    def __init__(self, client: firestore.Client, collection: str = "models") -> None:
        self._client = client
        self._collection = collection

    # -- references ------------------------------------------------------------------------------
    def _model_ref(self, model: str) -> Any:
        return self._client.collection(self._collection).document(model)

    def _versions(self, model: str) -> Any:
        return self._model_ref(model).collection("versions")

    def _env_ref(self, model: str, env: str) -> Any:
        return self._model_ref(model).collection("envs").document(env)

    def _key_ref(self, record_key: str) -> Any:
        return self._client.collection(f"{self._collection}_keys").document(_hash(record_key))

    # -- writes ----------------------------------------------------------------------------------
    def record(self, artifact: ModelArtifact) -> RecordResult:
        from google.cloud import firestore

        row = artifact.to_row()
        row["metadata"] = dict(artifact.metadata)  # a map, queryable in the console, not JSON text
        version_ref = self._versions(artifact.model).document(str(artifact.version))

        @firestore.transactional
        def write(transaction: Any) -> RecordResult:
            # Reading the env pointer and the version document (even when it does not exist yet) puts
            # them in this transaction's read set: a concurrent writer of either makes one of us retry.
            self._env_ref(artifact.model, artifact.env).get(transaction=transaction)
            version_ref.get(transaction=transaction)
            docs = self._read_versions(artifact.model, transaction)
            rows = [r for doc in docs.values() for r in doc["artifacts"].values()]
            if any(r["record_key"] == artifact.record_key for r in rows):
                return RecordResult(created=False, latest_version=self._latest(rows, artifact.env))

            changed = {str(artifact.version)}
            same_object = [
                (doc_id, r)
                for doc_id, doc in docs.items()
                for r in doc["artifacts"].values()
                if r["bucket"] == artifact.ref.bucket and r["object_name"] == artifact.ref.name
            ]
            generation = artifact.ref.generation
            # A re-upload supersedes every older generation of the same object, whatever order they came in.
            for doc_id, older in same_object:
                superseded = older.get("superseded_by_generation")
                if int(older["generation"]) < generation and (superseded is None or superseded < generation):
                    older["superseded_by_generation"] = generation
                    changed.add(doc_id)
            newer = [int(r["generation"]) for _, r in same_object if int(r["generation"]) > generation]
            if newer:
                row["superseded_by_generation"] = max(newer)

            doc = docs.setdefault(
                str(artifact.version), {"model": artifact.model, "version": artifact.version, "artifacts": {}}
            )
            doc["artifacts"][_hash(artifact.record_key)] = row
            rows.append(row)
            for doc_id in changed:
                transaction.set(self._versions(artifact.model).document(doc_id), docs[doc_id])
            transaction.set(
                self._key_ref(artifact.record_key),
                {
                    "record_key": artifact.record_key,
                    "bucket": artifact.ref.bucket,
                    "env": artifact.env,
                    "model": artifact.model,
                    "version": artifact.version,
                },
            )
            latest = self._latest(rows, artifact.env)
            self._write_pointer(transaction, artifact.model, artifact.env, latest, row["registered_at"])
            return RecordResult(created=True, latest_version=latest)

        with translate_errors(f"record {artifact.record_key}"):
            return write(self._client.transaction(max_attempts=_MAX_ATTEMPTS))

    def mark_deleted(self, ref: ObjectRef, deleted_at: datetime) -> DeleteResult:
        from google.cloud import firestore

        key_ref = self._key_ref(ref.key)

        @firestore.transactional
        def write(transaction: Any) -> DeleteResult:
            key = key_ref.get(transaction=transaction)
            if not key.exists:
                return DeleteResult(found=False, latest_version=None)
            found = key.to_dict() or {}
            model, env = found["model"], found["env"]
            self._env_ref(model, env).get(transaction=transaction)
            docs = self._read_versions(model, transaction)
            rows = [r for doc in docs.values() for r in doc["artifacts"].values()]
            doc_id = str(found["version"])
            row = docs.get(doc_id, {"artifacts": {}})["artifacts"].get(_hash(ref.key))
            if row is None:  # the lookup outlived its row (hand-edited data): nothing to mark
                return DeleteResult(found=False, latest_version=None)
            if not row.get("deleted_at"):
                row["deleted_at"] = deleted_at.isoformat()
                transaction.set(self._versions(model).document(doc_id), docs[doc_id])
                latest = self._latest(rows, env)
                self._write_pointer(transaction, model, env, latest, row["deleted_at"])
                return DeleteResult(found=True, latest_version=latest)
            return DeleteResult(found=True, latest_version=self._latest(rows, env))

        with translate_errors(f"mark deleted {ref.key}"):
            return write(self._client.transaction(max_attempts=_MAX_ATTEMPTS))

    def _write_pointer(self, transaction: Any, model: str, env: str, latest: int | None, updated_at: str) -> None:
        transaction.set(
            self._env_ref(model, env),
            {"env": env, "model": model, "latest_version": latest, "updated_at": updated_at},
        )
        # merge: the model document keeps the other envs' pointers as they are.
        transaction.set(
            self._model_ref(model),
            {"model": model, "latest": {env: {"version": latest, "updated_at": updated_at}}},
            merge=True,
        )

    # -- reads -----------------------------------------------------------------------------------
    def _read_versions(self, model: str, transaction: Any = None) -> dict[str, dict[str, Any]]:
        """Every version document of a model (a model has few), as {doc id: document}."""
        docs = {}
        for snapshot in self._versions(model).get(transaction=transaction):
            doc = snapshot.to_dict() or {}
            doc.setdefault("artifacts", {})
            docs[snapshot.id] = doc
        return docs

    def _rows(self, model: str) -> list[dict[str, Any]]:
        return [row for doc in self._read_versions(model).values() for row in doc["artifacts"].values()]

    @staticmethod
    def _latest(rows: list[dict[str, Any]], env: str) -> int | None:
        return latest_live_version([r for r in rows if r["env"] == env])

    def known_keys(self, bucket: str) -> set[str]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._client.collection(f"{self._collection}_keys")
            .where(filter=FieldFilter("bucket", "==", bucket))
            .select(["record_key"])
        )
        with translate_errors(f"known keys of {bucket}"):
            return {snapshot.get("record_key") for snapshot in query.stream()}

    def artifacts(self, model: str, env: str | None = None) -> list[dict[str, Any]]:
        with translate_errors(f"artifacts of {model}"):
            rows = self._rows(model)
        return sorted((dict(r) for r in rows if env is None or r["env"] == env), key=_sort_key)

    def list_models(self, env: str | None = None) -> list[ModelSummary]:
        grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
        with translate_errors("list models"):
            # list_documents also yields models whose document was never written, only their versions.
            for model_ref in self._client.collection(self._collection).list_documents():
                for row in self._rows(model_ref.id):
                    if env is None or row["env"] == env:
                        grouped.setdefault((row["env"], row["model"]), []).append(row)
        return [
            ModelSummary(
                env=e,
                model=m,
                latest_version=latest_live_version(group),
                versions=sorted({int(r["version"]) for r in group if is_live(r)}),
                updated_at=max(r["registered_at"] for r in group),
            )
            for (e, m), group in sorted(grouped.items())
        ]
