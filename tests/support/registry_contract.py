"""What every RegistryStore must do, written once and run against each backend.

A backend's test module subclasses `RegistryContract` and provides a `store` fixture. The SQLite
store (the reference) runs it too, so the contract itself is checked against the semantics the
embedded profile already has.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from shared.errors import PermanentError
from shared.model_registry import ModelArtifact, ObjectRef, UnknownVersionError
from shared.ports import AliasedRegistryStore, RegistryStore
from tests.integration.conftest import T0

MakeArtifact = Callable[..., ModelArtifact]


class RecordingBigQuery:
    """A BigQuery client that records the SQL of every query it is asked to run (`statements`), then runs it:
    for the tests that hold the registry's write path to appends only."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.statements: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def query(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self.statements.append(sql)
        return self._client.query(sql, *args, **kwargs)


class RegistryContract:
    def test_recording_twice_creates_one_row(self, store: RegistryStore, make_artifact: MakeArtifact) -> None:
        # GIVEN an artifact
        artifact = make_artifact(version=1)

        # WHEN it is recorded, then recorded again (a redelivery that got past the claim)
        first = store.record(artifact)
        second = store.record(artifact)

        # THEN the first call created it, the second changed nothing, and there is one row
        assert (first.created, first.latest_version) == (True, 1)
        assert (second.created, second.latest_version) == (False, 1)
        assert [r["record_key"] for r in store.artifacts("resnet")] == [artifact.record_key]

    def test_rows_have_the_reference_shape(self, store: RegistryStore, make_artifact: MakeArtifact) -> None:
        # GIVEN an artifact with custom metadata
        artifact = make_artifact(metadata={"uploader": "ana", "run": "42"})

        # WHEN it is recorded and read back
        store.record(artifact)
        (row,) = store.artifacts("resnet")

        # THEN the row is to_row() with metadata as a dict and the flag as a bool
        expected = artifact.to_row() | {"metadata": {"uploader": "ana", "run": "42"}}
        assert row == expected
        assert row["format_unsafe"] is False

    def test_reupload_supersedes_the_older_generation(self, store: RegistryStore, make_artifact: MakeArtifact) -> None:
        # GIVEN a file registered, then re-uploaded under the same name (a new generation)
        old = make_artifact(version=1, generation=1000)
        new = make_artifact(version=1, generation=2000, registered_at=T0 + timedelta(minutes=1))
        store.record(old)

        # WHEN the new generation is recorded
        result = store.record(new)

        # THEN the old row points at the new generation and the version is still live through the new one
        rows = {r["generation"]: r for r in store.artifacts("resnet")}
        assert rows[1000]["superseded_by_generation"] == 2000
        assert rows[2000]["superseded_by_generation"] is None
        assert result.latest_version == 1

    def test_an_older_generation_arriving_late_is_superseded_at_once(
        self, store: RegistryStore, make_artifact: MakeArtifact
    ) -> None:
        # GIVEN the newest generation of a file already registered
        store.record(make_artifact(version=1, generation=3000))

        # WHEN events of two older generations arrive late
        store.record(make_artifact(version=1, generation=1000))
        store.record(make_artifact(version=1, generation=2000))

        # THEN both older rows point at the newest generation, which alone is live
        rows = {r["generation"]: r["superseded_by_generation"] for r in store.artifacts("resnet")}
        assert rows == {1000: 3000, 2000: 3000, 3000: None}

    def test_late_older_version_keeps_latest(self, store: RegistryStore, make_artifact: MakeArtifact) -> None:
        # GIVEN v3 registered
        store.record(make_artifact(version=3, generation=3000))

        # WHEN a late event for v2 arrives
        result = store.record(make_artifact(version=2, generation=2000))

        # THEN latest stays 3
        assert result.latest_version == 3
        (summary,) = store.list_models("dev")
        assert summary.latest_version == 3
        assert summary.versions == [2, 3]

    def test_deleting_every_file_of_the_latest_version_brings_back_the_previous(
        self, store: RegistryStore, make_artifact: MakeArtifact
    ) -> None:
        # GIVEN v2 with one file and v3 with two
        store.record(make_artifact(version=2, generation=2000))
        v3_a = make_artifact(version=3, path="model.safetensors", generation=3000)
        v3_b = make_artifact(version=3, path="config.json", generation=3001)
        store.record(v3_a)
        store.record(v3_b)

        # WHEN the v3 files are deleted one after the other
        after_first = store.mark_deleted(v3_a.ref, T0 + timedelta(hours=1))
        after_second = store.mark_deleted(v3_b.ref, T0 + timedelta(hours=1))

        # THEN v3 stays latest while one file lives, then latest falls back to 2
        assert (after_first.found, after_first.latest_version) == (True, 3)
        assert (after_second.found, after_second.latest_version) == (True, 2)
        (summary,) = store.list_models()
        assert (summary.latest_version, summary.versions) == (2, [2])

    def test_deleting_twice_keeps_the_first_deletion_time(
        self, store: RegistryStore, make_artifact: MakeArtifact
    ) -> None:
        # GIVEN a deleted file
        artifact = make_artifact(version=1)
        store.record(artifact)
        store.mark_deleted(artifact.ref, T0 + timedelta(hours=1))

        # WHEN the delete event is delivered again, later
        again = store.mark_deleted(artifact.ref, T0 + timedelta(hours=2))

        # THEN it is found, nothing is live, and the first deletion time stands
        assert (again.found, again.latest_version) == (True, None)
        (row,) = store.artifacts("resnet")
        assert row["deleted_at"] == (T0 + timedelta(hours=1)).isoformat()

    def test_deleting_an_unknown_object_is_not_found(self, store: RegistryStore) -> None:
        # GIVEN an empty registry WHEN an unregistered object version is deleted THEN it is not found
        result = store.mark_deleted(ObjectRef("ml-models-dev", "resnet/v1/x.bin", 1), T0)
        assert (result.found, result.latest_version) == (False, None)

    def test_known_keys_are_per_bucket_and_include_deleted(
        self, store: RegistryStore, make_artifact: MakeArtifact
    ) -> None:
        # GIVEN artifacts in dev (one of them deleted) and one in prod
        live = make_artifact(env="dev", version=1, generation=1)
        gone = make_artifact(env="dev", version=1, path="old.bin", generation=2)
        prod = make_artifact(env="prod", version=1, generation=3)
        for artifact in (live, gone, prod):
            store.record(artifact)
        store.mark_deleted(gone.ref, T0)

        # WHEN the dev bucket's keys are asked for THEN both dev keys come back, and only those
        assert store.known_keys("ml-models-dev") == {live.record_key, gone.record_key}
        assert store.known_keys("ml-models-prod") == {prod.record_key}
        assert store.known_keys("ml-models-nowhere") == set()
        # AND the undeleted keys leave the deleted one out
        assert store.undeleted_keys("ml-models-dev") == {live.record_key}
        assert store.undeleted_keys("ml-models-prod") == {prod.record_key}
        assert store.undeleted_keys("ml-models-nowhere") == set()

    def test_envs_do_not_mix(self, store: RegistryStore, make_artifact: MakeArtifact) -> None:
        # GIVEN the same model name in dev (v1, v2) and prod (v1)
        store.record(make_artifact(env="dev", version=1, generation=1))
        store.record(make_artifact(env="dev", version=2, generation=2, registered_at=T0 + timedelta(days=1)))
        result = store.record(make_artifact(env="prod", version=1, generation=3))

        # WHEN each env is read
        # THEN each has its own latest and rows
        assert result.latest_version == 1
        summaries = {(s.env, s.model): s for s in store.list_models()}
        assert summaries[("dev", "resnet")].latest_version == 2
        assert summaries[("dev", "resnet")].versions == [1, 2]
        assert summaries[("dev", "resnet")].updated_at == (T0 + timedelta(days=1)).isoformat()
        assert summaries[("prod", "resnet")].latest_version == 1
        assert [s.env for s in store.list_models("prod")] == ["prod"]
        assert [r["env"] for r in store.artifacts("resnet", "prod")] == ["prod"]

    def test_artifacts_are_ordered_by_env_version_path_generation(
        self, store: RegistryStore, make_artifact: MakeArtifact
    ) -> None:
        # GIVEN artifacts recorded in a scrambled order
        specs: list[dict[str, Any]] = [
            {"env": "prod", "version": 1, "path": "a.bin", "generation": 10},
            {"env": "dev", "version": 2, "path": "b.bin", "generation": 20},
            {"env": "dev", "version": 2, "path": "a.bin", "generation": 31},
            {"env": "dev", "version": 2, "path": "a.bin", "generation": 30},
            {"env": "dev", "version": 1, "path": "z.bin", "generation": 40},
        ]
        for spec in specs:
            store.record(make_artifact(**spec))

        # WHEN they are read THEN they come sorted
        got = [(r["env"], r["version"], r["path"], r["generation"]) for r in store.artifacts("resnet")]
        assert got == sorted(got)
        assert len(got) == 5

    def test_models_are_listed_one_summary_per_env_and_model(
        self, store: RegistryStore, make_artifact: MakeArtifact
    ) -> None:
        # GIVEN two models in dev
        store.record(make_artifact(model="bert", version=4, generation=1))
        store.record(make_artifact(model="resnet", version=1, generation=2))

        # WHEN models are listed THEN one summary each, sorted
        assert [(s.env, s.model, s.latest_version) for s in store.list_models("dev")] == [
            ("dev", "bert", 4),
            ("dev", "resnet", 1),
        ]
        assert store.list_models("staging") == []


class AliasContract:
    """Aliases: named pointers to a live version per model and env, with every move kept."""

    def test_an_alias_points_at_a_version_and_says_who_set_it(
        self, store: AliasedRegistryStore, make_artifact: MakeArtifact
    ) -> None:
        # GIVEN v1 registered in dev
        store.record(make_artifact(version=1, generation=1))

        # WHEN champion is set to it
        result = store.set_alias("resnet", "dev", "champion", 1, by="ana", at=T0)

        # THEN it moved from nowhere to v1, and reads back the same way
        assert result.moved is True
        expected = {
            "env": "dev",
            "model": "resnet",
            "alias": "champion",
            "version": 1,
            "previous_version": None,
            "moved_by": "ana",
            "moved_at": T0.isoformat(),
        }
        assert result.current.as_dict() == expected
        assert [a.as_dict() for a in store.aliases("resnet")] == [expected]
        assert [m.as_dict() for m in store.alias_history("resnet")] == [expected]

    def test_a_forward_only_move_never_takes_an_alias_back_to_an_older_version(
        self, store: AliasedRegistryStore, make_artifact: MakeArtifact
    ) -> None:
        # GIVEN v1, v2 and v3, champion on v2 (a newer version promoted while an older one's gate ran)
        for version in (1, 2, 3):
            store.record(make_artifact(version=version, generation=version))
        store.set_alias("resnet", "dev", "champion", 2, by="gate", at=T0)

        # WHEN the gate moves it forward only, to v1 then to v3
        back = store.set_alias("resnet", "dev", "champion", 1, by="gate", at=T0, forward_only=True)
        ahead = store.set_alias("resnet", "dev", "champion", 3, by="gate", at=T0, forward_only=True)

        # THEN v1 is refused without a move recorded, v3 is taken; a person's move back is still theirs
        assert (back.moved, back.current.version) == (False, 2)
        assert (ahead.moved, ahead.current.version, ahead.current.previous_version) == (True, 3, 2)
        assert [m.version for m in store.alias_history("resnet", "dev")] == [2, 3]
        assert store.set_alias("resnet", "dev", "champion", 1, by="bob", at=T0).current.version == 1

    def test_a_rollback_is_an_alias_move_and_the_history_keeps_every_move(
        self, store: AliasedRegistryStore, make_artifact: MakeArtifact
    ) -> None:
        # GIVEN v1 and v2, champion on v1
        store.record(make_artifact(version=1, generation=1))
        store.record(make_artifact(version=2, generation=2))
        store.set_alias("resnet", "dev", "champion", 1, by="ana", at=T0)

        # WHEN it is promoted to v2, then rolled back to v1
        store.set_alias("resnet", "dev", "champion", 2, by="ci", at=T0 + timedelta(minutes=1))
        back = store.set_alias("resnet", "dev", "champion", 1, by="bob", at=T0 + timedelta(minutes=2))

        # THEN it points at v1 again, and the history has the three moves in order, each from where it was
        assert (back.moved, back.current.version, back.current.previous_version) == (True, 1, 2)
        (current,) = store.aliases("resnet", "dev")
        assert (current.version, current.previous_version, current.moved_by) == (1, 2, "bob")
        moves = [(m.previous_version, m.version, m.moved_by) for m in store.alias_history("resnet", "dev")]
        assert moves == [(None, 1, "ana"), (1, 2, "ci"), (2, 1, "bob")]

    def test_moving_an_alias_where_it_points_records_nothing(
        self, store: AliasedRegistryStore, make_artifact: MakeArtifact
    ) -> None:
        # GIVEN champion on v1
        store.record(make_artifact(version=1, generation=1))
        store.set_alias("resnet", "dev", "champion", 1, by="ana", at=T0)

        # WHEN it is set to v1 again, by someone else, later
        again = store.set_alias("resnet", "dev", "champion", 1, by="bob", at=T0 + timedelta(hours=1))

        # THEN nothing moved: the alias and its history are as the first move left them
        assert again.moved is False
        assert (again.current.moved_by, again.current.moved_at) == ("ana", T0.isoformat())
        assert [(m.moved_by, m.version) for m in store.alias_history("resnet")] == [("ana", 1)]

    def test_an_alias_to_a_version_that_does_not_exist_is_refused_naming_it(
        self, store: AliasedRegistryStore, make_artifact: MakeArtifact
    ) -> None:
        # GIVEN v1 in dev, v2 only in prod, and v3 whose only file was deleted
        store.record(make_artifact(version=1, generation=1))
        store.record(make_artifact(env="prod", version=2, generation=2))
        v3 = make_artifact(version=3, generation=3)
        store.record(v3)
        store.mark_deleted(v3.ref, T0)

        # WHEN an alias is set to v9, to v2 (another env's) or to v3 (deleted) in dev
        # THEN each is refused naming the version, and nothing is recorded
        for version in (9, 2, 3):
            with pytest.raises(UnknownVersionError, match=f"v{version}"):
                store.set_alias("resnet", "dev", "champion", version, by="ana", at=T0)
        with pytest.raises(UnknownVersionError, match="v1"):
            store.set_alias("bert", "dev", "champion", 1, by="ana", at=T0)  # no such model
        assert store.aliases("resnet") == []
        assert store.alias_history("resnet") == []

    def test_an_alias_name_the_pattern_refuses_records_nothing(
        self, store: AliasedRegistryStore, make_artifact: MakeArtifact
    ) -> None:
        # GIVEN v1 WHEN an alias with a bad or reserved name is set THEN it is refused, and nothing recorded
        store.record(make_artifact(version=1, generation=1))
        for name in ("Champion", "latest", "v2", "a/b", ""):
            with pytest.raises(PermanentError, match="alias"):
                store.set_alias("resnet", "dev", name, 1, by="ana", at=T0)
        assert store.aliases("resnet") == []

    def test_aliases_are_per_env_and_a_model_has_any_number(
        self, store: AliasedRegistryStore, make_artifact: MakeArtifact
    ) -> None:
        # GIVEN v1 and v2 in dev, v1 in prod
        store.record(make_artifact(version=1, generation=1))
        store.record(make_artifact(version=2, generation=2))
        store.record(make_artifact(env="prod", version=1, generation=3))

        # WHEN dev has champion and candidate, and prod its own champion
        store.set_alias("resnet", "dev", "champion", 1, by="ana", at=T0)
        store.set_alias("resnet", "dev", "candidate", 2, by="ana", at=T0)
        store.set_alias("resnet", "prod", "champion", 1, by="ana", at=T0)
        store.set_alias("resnet", "dev", "champion", 2, by="ana", at=T0 + timedelta(minutes=1))

        # THEN each env reads its own, sorted by env and alias; moving dev's champion left prod's alone
        every = [(a.env, a.alias, a.version) for a in store.aliases("resnet")]
        assert every == [("dev", "candidate", 2), ("dev", "champion", 2), ("prod", "champion", 1)]
        assert [(a.alias, a.version) for a in store.aliases("resnet", "prod")] == [("champion", 1)]
        assert [(m.env, m.alias) for m in store.alias_history("resnet", "prod")] == [("prod", "champion")]
        assert store.aliases("bert") == []
