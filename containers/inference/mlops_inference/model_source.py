"""Where the service finds its model: the registry says which version is latest, the object store
holds its files. The same ports as the functions (SQLite + local folder embedded, Firestore/BigQuery +
GCS in the cloud), so what `register_model` registered is what is served."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_inference.model import LoadedModel, ModelError, load_model
from shared.model_registry import is_live, latest_live_version

if TYPE_CHECKING:
    from shared.ports import ObjectStore, RegistryStore


@dataclass(frozen=True)
class VersionFiles:
    """The live files of one version: path inside the version folder -> (bucket, object, generation, size)."""

    model: str
    version: int
    files: dict[str, tuple[str, str, int, int]]

    @property
    def generations(self) -> tuple[int, ...]:
        return tuple(sorted(generation for _, _, generation, _ in self.files.values()))


class RegistryModelSource:
    def __init__(self, registry: RegistryStore, objects: ObjectStore, model: str, env: str) -> None:
        self._registry, self._objects = registry, objects
        self.model, self.env = model, env

    def latest(self) -> VersionFiles | None:
        """The latest live version's files (None: nothing registered for this model and env)."""
        rows = self._registry.artifacts(self.model, self.env)
        version = latest_live_version(rows)
        if version is None:
            return None
        files = {
            row["path"]: (row["bucket"], row["object_name"], int(row["generation"]), int(row["size"] or 0))
            for row in rows
            if int(row["version"]) == version and is_live(row)
        }
        return VersionFiles(self.model, version, files)

    def load(self, version: VersionFiles) -> LoadedModel:
        """Each file read at the generation the registry recorded: a newer upload is a new load."""
        contents = {}
        for path, (bucket, name, generation, size) in version.files.items():
            if path.endswith((".json", ".pt", ".pt2")):
                data = self._objects.read_head(bucket, name, generation, max(size, 1))
                if data is None:
                    raise ModelError(f"{self.model} v{version.version}: gs://{bucket}/{name}#{generation} is gone")
                contents[path] = data
        return load_model(self.model, version.version, contents, version.generations)
