"""Developer tooling: the `mlops-events` CLI, the local cloud, deploy bundles, replay, event fixtures and
local servers. It may import the runtime library (`shared/`) and the inference service; nothing
deployed imports it (import-linter's contracts in pyproject.toml, and the bundle and image tests)."""
