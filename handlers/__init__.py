"""Use cases: ``handle(event, deps) -> Outcome``. No SDK imports here.

Each use case declares the ports it needs as a ``...Deps`` Protocol (and its settings as ``...Settings``)
whose members are read-only properties: the real Deps builds its adapters lazily (cached properties)
and Settings is frozen. mypy checks every entry point's deps against them (`.ci/run`).
"""
