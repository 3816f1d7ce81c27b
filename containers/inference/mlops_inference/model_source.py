"""Where the service finds its model: the registry says which version to serve (the latest live one, or the
one an alias such as `champion` points to), the object store holds its files. The same ports as the
functions (SQLite + local folder embedded, Firestore/BigQuery + GCS in the cloud), so what `register_model`
registered, and where `registry alias set` pointed, is what is served."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_inference.model import LoadedModel, ModelError, load_model
from shared.model_registry import is_live, latest_live_version

if TYPE_CHECKING:
    from shared.ports import ModelAliases, ObjectStore, RegistryStore


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
    def __init__(
        self,
        registry: RegistryStore,
        objects: ObjectStore,
        model: str,
        env: str,
        *,
        alias: str | None = None,
        aliases: ModelAliases | None = None,
    ) -> None:
        """`alias`: serve the version it points to (read from `aliases`), else the latest live one."""
        if alias is not None and aliases is None:
            raise ValueError("an alias needs the registry's aliases to read it")
        self._registry, self._objects, self._aliases = registry, objects, aliases
        self.model, self.env, self.alias = model, env, alias

    @property
    def wanted(self) -> str:
        """What this source serves, in words: `alias champion` or `the latest version`."""
        return f"alias {self.alias}" if self.alias else "the latest version"

    def latest(self) -> VersionFiles | None:
        """The latest live version's files (None: nothing registered for this model and env)."""
        rows = self._registry.artifacts(self.model, self.env)
        version = latest_live_version(rows)
        return None if version is None else self._files(rows, version)

    def serving(self) -> VersionFiles | None:
        """The files of the version to serve: the alias's when one is set (None until it points somewhere,
        or when its version has no live file any more), else the latest live version's."""
        if self.alias is None or self._aliases is None:
            return self.latest()
        pointed = [
            m for m in self._aliases.aliases(self.model, self.env) if m.alias == self.alias and m.env == self.env
        ]
        return self.version(pointed[-1].version) if pointed else None

    def version(self, number: int) -> VersionFiles | None:
        """The live files of version `number` (None: it has none in this env)."""
        files = self._files(self._registry.artifacts(self.model, self.env), number)
        return files if files.files else None

    def _files(self, rows: list[dict], version: int) -> VersionFiles:
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
