"""The runtime library of mlops-events: what the functions, their use cases and the inference service
import, and all that a deploy bundle or the inference image carries. Event parsing, ports and their
adapters, the drift engine, rollout rules, configuration, logging, outcomes. The developer tooling (CLI,
local cloud, bundles, replay) lives in `tooling/` and is never imported from here."""
