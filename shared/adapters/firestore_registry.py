"""RegistryStore and ModelAliases on Firestore: the registry the functions and the CLI read (BigQuery keeps
the history).

Layout, under `collection` (default `models`):

    {collection}/{model}                        {model, latest: {env: {version, updated_at}}}
    {collection}/{model}/envs/{env}             {env, model, latest_version, updated_at}: the pointer
    {collection}/{model}/artifacts/{sha256(record_key)}    one row: ModelArtifact.to_row(), metadata as a map
    {collection}/{model}/versions/{N}           {model, version, files: {sha256(record_key): row}}: the
                                                version as users browse it, every env's files of version N
    {collection}_keys/{sha256(record_key)}      {record_key, bucket, env, model, version}: finds a row's model
    {collection}/{model}/aliases/{env}:{alias}  {env, model, alias, version, previous_version, moved_by, moved_at}
    {collection}/{model}/alias_moves/{auto id}  the same fields, one document per move: the history
    {collection}/{model}                        ... and {aliases: {env: {alias: version}}}: one read for a server
    {collection}/{model}/gate_decisions/{sha256(record_key)}  one quality gate decision (evaluate_model)

Model names are valid document ids by construction (shared.model_path allows `[A-Za-z0-9][A-Za-z0-9._-]*`);
record keys hold `/` and `#`, hence the hashes.

Why no read-write transaction: the files of one version are uploaded together, so their events
arrive together, and transactions that read the same documents hold read locks that make each other
wait and abort (on the emulator ~2 s per round; six concurrent files exhausted ten attempts). Instead
every step is one atomic write guarded by a precondition, and every step is idempotent:

1. the row and its key lookup are written in one batch with `create` (exists=False): the record_key
   is registered at most once, and a redelivery learns `created=False` from the precondition;
2. older generations of the same object are marked superseded with conditional updates;
3. the env pointer is recomputed from the rows with the domain's own rule (latest_live_version) and
   written conditioned on the pointer version it read *before* reading the rows. A writer that lost
   the race re-reads and recomputes, so the last pointer written reflects every row written before it.
   Steps 2 and 3 share their read of the env's rows (an object's generations all lie in its bucket's
   env): when step 2 writes, both reads are made again before step 3 decides.

The version document is a view of the rows: each file is its own field path, written in the same
batch as the row it mirrors, so concurrent files of one version never contend for it.

Steps 2 and 3 run on redeliveries too, so a crash between steps heals on the next delivery.

An alias move is one batch (the alias, its history entry, the model document's mirror) conditioned on
the alias document as it was read, so two concurrent moves cannot both record a move from the same
version; the loser reads again and decides again (a no-op when it now points where it was going).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from shared.adapters.firestore_rest import AlreadyExists, FailedPrecondition, FirestoreRest, NotFound
from shared.adapters.gcp_errors import translate_errors
from shared.errors import TransientError
from shared.model_registry import (
    AliasMove,
    AliasResult,
    DeleteResult,
    ModelArtifact,
    ModelSummary,
    ObjectRef,
    RecordResult,
    alias_name,
    check_alias_target,
    latest_live_version,
    sorted_moves,
    summarize_models,
)
from shared.quality_gate import GateDecision

# Rounds of read / conditional write before giving up with a TransientError (the platform redelivers).
# Every lost round means another writer made progress, so this is only reached under a storm.
_MAX_ROUNDS = 50
_POINTER_FIELDS = ["env", "version", "registered_at", "deleted_at", "superseded_by_generation"]
_MOVE_FIELDS = ("env", "model", "alias", "version", "previous_version", "moved_by", "moved_at")


def _hash(record_key: str) -> str:
    return hashlib.sha256(record_key.encode("utf-8")).hexdigest()


def _move(doc: dict[str, Any]) -> AliasMove:
    previous = doc.get("previous_version")
    return AliasMove(
        env=doc["env"],
        model=doc["model"],
        alias=doc["alias"],
        version=int(doc["version"]),
        previous_version=int(previous) if previous is not None else None,
        moved_by=doc["moved_by"],
        moved_at=doc["moved_at"],
    )


def _sort_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["env"], int(row["version"]), row["path"], int(row["generation"]))


class FirestoreRegistryStore:
    def __init__(self, client: FirestoreRest, collection: str = "models") -> None:
        self._client = client
        self._collection = collection

    # -- references ------------------------------------------------------------------------------
    def _model_ref(self, model: str) -> Any:
        return self._client.collection(self._collection).document(model)

    def _rows_ref(self, model: str) -> Any:
        return self._model_ref(model).collection("artifacts")

    def _version_ref(self, model: str, version: int) -> Any:
        return self._model_ref(model).collection("versions").document(str(version))

    def _env_ref(self, model: str, env: str) -> Any:
        return self._model_ref(model).collection("envs").document(env)

    def _keys_ref(self) -> Any:
        return self._client.collection(f"{self._collection}_keys")

    def _alias_ref(self, model: str, env: str, alias: str) -> Any:
        return self._model_ref(model).collection("aliases").document(f"{env}:{alias}")

    def _moves_ref(self, model: str) -> Any:
        return self._model_ref(model).collection("alias_moves")

    # -- writes ----------------------------------------------------------------------------------
    def record(self, artifact: ModelArtifact) -> RecordResult:
        row = artifact.to_row()
        row["metadata"] = dict(artifact.metadata)  # a map, readable and queryable, not JSON text
        key_hash = _hash(artifact.record_key)
        with translate_errors(f"record {artifact.record_key}"):
            batch = self._client.batch()
            batch.create(self._rows_ref(artifact.model).document(key_hash), row)
            batch.set(
                self._version_ref(artifact.model, artifact.version),
                {"model": artifact.model, "version": artifact.version, "files": {key_hash: row}},
                merge=True,
            )
            batch.set(
                self._keys_ref().document(key_hash),
                {
                    "record_key": artifact.record_key,
                    "bucket": artifact.ref.bucket,
                    "env": artifact.env,
                    "model": artifact.model,
                    "version": artifact.version,
                },
            )
            try:
                batch.commit()
                created = True
            except AlreadyExists:
                created = False
            latest = self._update_pointer(artifact.model, artifact.env, supersede=artifact.ref)
        return RecordResult(created=created, latest_version=latest)

    def mark_deleted(self, ref: ObjectRef, deleted_at: datetime) -> DeleteResult:
        key_hash = _hash(ref.key)
        with translate_errors(f"mark deleted {ref.key}"):
            lookup = self._keys_ref().document(key_hash).get()
            if not lookup.exists:
                return DeleteResult(found=False, latest_version=None)
            model, env = lookup.get("model"), lookup.get("env")
            row_ref = self._rows_ref(model).document(key_hash)
            for _ in range(_MAX_ROUNDS):
                snapshot = row_ref.get()
                if not snapshot.exists:  # a lookup without its row: the row was never written
                    return DeleteResult(found=False, latest_version=None)
                if snapshot.get("deleted_at"):
                    break  # the first deletion time stands
                try:
                    self._update_row(model, snapshot, {"deleted_at": deleted_at.isoformat()})
                    break
                except (FailedPrecondition, NotFound):
                    continue  # changed under us (superseded meanwhile): look again
            else:
                raise TransientError(f"mark deleted {ref.key}: the row kept changing")
            latest = self._update_pointer(model, env)
        return DeleteResult(found=True, latest_version=latest)

    @staticmethod
    def _stale(snapshots: list[Any], ref: ObjectRef) -> tuple[int, list[Any]]:
        """The newest generation of the object among the rows, and the rows of older generations that do not
        point at it yet: every generation but the newest points at the newest, whatever order they came in."""
        same = [s for s in snapshots if s.get("bucket") == ref.bucket and s.get("object_name") == ref.name]
        newest = max((int(s.get("generation")) for s in same), default=0)  # none: nothing is stale
        stale = [
            s
            for s in same
            if int(s.get("generation")) < newest
            and (s.get("superseded_by_generation") is None or s.get("superseded_by_generation") < newest)
        ]
        return newest, stale

    def _update_row(self, model: str, snapshot: Any, fields: dict[str, Any]) -> None:
        """Change a row unless it changed since `snapshot`, and its mirror in the version view with it."""
        batch = self._client.batch()
        batch.update(
            snapshot.reference, fields, option=self._client.write_option(last_update_time=snapshot.update_time)
        )
        view = {f"files.{snapshot.id}.{name}": value for name, value in fields.items()}
        batch.update(self._version_ref(model, int(snapshot.get("version"))), view)
        batch.commit()

    def _update_pointer(self, model: str, env: str, supersede: ObjectRef | None = None) -> int | None:
        """Recompute `latest` for one model/env from its rows and write it, unless someone wrote it meanwhile.
        With `supersede` (a registration), the same read of the rows first marks the object's older generations
        superseded (step 2): an object's rows all lie in its bucket's env, so one query serves both steps,
        and the common case (nothing stale) costs one round trip less."""
        env_ref = self._env_ref(model, env)
        fields_read = [*_POINTER_FIELDS, "bucket", "object_name", "generation"] if supersede else _POINTER_FIELDS
        query = self._rows_ref(model).where("env", "==", env).select(fields_read)
        for _ in range(_MAX_ROUNDS):
            pointer = env_ref.get()  # read before the rows: see the module docstring
            snapshots = query.get()
            if supersede is not None:
                newest, stale = self._stale(snapshots, supersede)
                if stale:
                    try:
                        for snapshot in stale:
                            self._update_row(model, snapshot, {"superseded_by_generation": newest})
                    except (FailedPrecondition, NotFound):
                        pass  # a concurrent writer moved a row: decide again from fresh rows
                    continue  # rows changed: read the pointer, then the rows, again
            rows = [s.to_dict() or {} for s in snapshots]
            latest = latest_live_version(rows)
            # When the env's rows last changed: derived from the rows, so a redelivery writes the same value.
            updated_at = max(
                (t for r in rows for t in (r.get("registered_at"), r.get("deleted_at")) if t), default=None
            )
            fields = {"env": env, "model": model, "latest_version": latest, "updated_at": updated_at}
            # Written even when unchanged: skipping would let a writer whose rows were stale have the last word.
            batch = self._client.batch()
            if pointer.exists:
                batch.update(env_ref, fields, option=self._client.write_option(last_update_time=pointer.update_time))
            else:
                batch.create(env_ref, fields)
            # merge: the model document keeps the other envs' pointers as they are.
            batch.set(
                self._model_ref(model),
                {"model": model, "latest": {env: {"version": latest, "updated_at": updated_at}}},
                merge=True,
            )
            try:
                batch.commit()
                return latest
            except (AlreadyExists, FailedPrecondition, NotFound):
                continue
        raise TransientError(f"latest pointer of {env}/{model}: kept changing")

    # -- aliases ---------------------------------------------------------------------------------
    def set_alias(
        self, model: str, env: str, alias: str, version: int, *, by: str, at: datetime, forward_only: bool = False
    ) -> AliasResult:
        alias = alias_name(alias)
        alias_ref = self._alias_ref(model, env, alias)
        rows = self._rows_ref(model).where("env", "==", env).select([*_POINTER_FIELDS, "model"])
        with translate_errors(f"set alias {env}/{model}/{alias}"):
            for _ in range(_MAX_ROUNDS):
                snapshot = alias_ref.get()
                current = snapshot.to_dict() if snapshot.exists else None
                if current is not None and (
                    int(current["version"]) == version or (forward_only and int(current["version"]) > version)
                ):  # the write below is conditional on this read: a move meanwhile makes it decide again
                    return AliasResult(moved=False, current=_move(current))
                check_alias_target([s.to_dict() or {} for s in rows.get()], env, model, version)
                move = AliasMove(
                    env=env,
                    model=model,
                    alias=alias,
                    version=version,
                    previous_version=int(current["version"]) if current is not None else None,
                    moved_by=by,
                    moved_at=at.isoformat(),
                )
                fields = move.as_dict()
                batch = self._client.batch()
                if snapshot.exists:
                    option = self._client.write_option(last_update_time=snapshot.update_time)
                    batch.update(alias_ref, fields, option=option)
                else:
                    batch.create(alias_ref, fields)
                batch.create(self._moves_ref(model).document(), fields)
                batch.set(self._model_ref(model), {"model": model, "aliases": {env: {alias: version}}}, merge=True)
                try:
                    batch.commit()
                    return AliasResult(moved=True, current=move)
                except (AlreadyExists, FailedPrecondition, NotFound):
                    continue  # moved meanwhile: decide again from what it is now
        raise TransientError(f"alias {env}/{model}/{alias}: kept moving")

    def aliases(self, model: str, env: str | None = None) -> list[AliasMove]:
        with translate_errors(f"aliases of {model}"):
            docs = [s.to_dict() or {} for s in self._model_ref(model).collection("aliases").stream()]
        moves = [_move(d) for d in docs if env is None or d.get("env") == env]
        return sorted(moves, key=lambda m: (m.env, m.alias))

    def alias_history(self, model: str, env: str | None = None) -> list[AliasMove]:
        with translate_errors(f"alias history of {model}"):
            docs = [s.to_dict() or {} for s in self._moves_ref(model).stream()]
        return sorted_moves([_move(d) for d in docs if env is None or d.get("env") == env])

    # -- gate decisions --------------------------------------------------------------------------
    def record_decision(self, decision: GateDecision) -> bool:
        ref = self._model_ref(decision.model).collection("gate_decisions").document(_hash(decision.record_key))
        with translate_errors(f"record gate decision {decision.record_key}"):
            try:
                ref.create(decision.as_dict())
            except AlreadyExists:
                return False
        return True

    def decisions(self, model: str, env: str | None = None) -> list[GateDecision]:
        with translate_errors(f"gate decisions of {model}"):
            docs = [s.to_dict() or {} for s in self._model_ref(model).collection("gate_decisions").stream()]
        found = [GateDecision.from_dict(d) for d in docs if env is None or d.get("env") == env]
        return sorted(found, key=lambda d: (d.env, d.version, d.decided_at, d.record_key))

    # -- reads -----------------------------------------------------------------------------------
    def _rows(self, model: str) -> list[dict[str, Any]]:
        return [s.to_dict() or {} for s in self._rows_ref(model).stream()]

    def known_keys(self, bucket: str) -> set[str]:

        query = self._keys_ref().where("bucket", "==", bucket).select(["record_key"])
        with translate_errors(f"known keys of {bucket}"):
            return {snapshot.get("record_key") for snapshot in query.stream()}

    def undeleted_keys(self, bucket: str) -> set[str]:
        """The lookups name the models with rows from this bucket; their rows say which are deleted."""

        lookups = self._keys_ref().where("bucket", "==", bucket).select(["model"])
        with translate_errors(f"undeleted keys of {bucket}"):
            models = {snapshot.get("model") for snapshot in lookups.stream()}
            rows = [row for model in sorted(models) for row in self._rows(model)]
        return {r["record_key"] for r in rows if r.get("bucket") == bucket and not r.get("deleted_at")}

    def artifacts(self, model: str, env: str | None = None) -> list[dict[str, Any]]:
        with translate_errors(f"artifacts of {model}"):
            rows = self._rows(model)
        return sorted((r for r in rows if env is None or r["env"] == env), key=_sort_key)

    def list_models(self, env: str | None = None) -> list[ModelSummary]:
        rows: list[dict[str, Any]] = []
        with translate_errors("list models"):
            # list_documents also yields a model whose own document was never written, only its rows.
            for model_ref in self._client.collection(self._collection).list_documents():
                rows.extend(r for r in self._rows(model_ref.id) if env is None or r["env"] == env)
        return summarize_models(rows)
