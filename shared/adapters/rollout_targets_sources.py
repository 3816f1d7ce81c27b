"""Where the rollout targets come from: a YAML file (embedded profile, tests) or an SSM parameter."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shared.errors import ConfigError
from shared.rollout.targets import RolloutTargets, parse_targets

if TYPE_CHECKING:
    from shared.adapters.aws_parameters import SsmParameter


class FileTargetsSource:
    """Read again when the file changes, so editing it needs no restart."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._seen: tuple[int, RolloutTargets] | None = None

    def load(self) -> RolloutTargets:
        try:
            mtime = self._path.stat().st_mtime_ns
        except OSError:
            raise ConfigError(
                f"rollout targets file {self._path} does not exist: copy the sample (events/ecr/targets.yaml in the "
                "repository) there and edit it, or point MLOPS_EVENTS_ROLLOUT_TARGETS_FILE at yours"
            ) from None
        if self._seen is None or self._seen[0] != mtime:
            try:
                text = self._path.read_bytes().decode("utf-8")
            except OSError as exc:
                raise ConfigError(f"rollout targets file {self._path} cannot be read: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise ConfigError(f"rollout targets file {self._path} is not UTF-8 text") from None
            self._seen = (mtime, parse_targets(text, str(self._path)))
        return self._seen[1]


class SsmTargetsSource:
    def __init__(self, parameter: SsmParameter) -> None:
        self._parameter = parameter

    def load(self) -> RolloutTargets:
        return parse_targets(self._parameter.read(), f"SSM parameter {self._parameter.name}")
