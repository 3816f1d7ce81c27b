"""What every RegistryStore must do, written once and run against each backend.

A backend's test module subclasses `RegistryContract` and provides a `store` fixture. The SQLite
store (the reference) runs it too, so the contract itself is checked against the semantics the
embedded profile already has.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from shared.model_registry import ModelArtifact, ObjectRef
from shared.ports import RegistryStore
from tests.integration.conftest import T0

MakeArtifact = Callable[..., ModelArtifact]


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
