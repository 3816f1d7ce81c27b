"""Use cases: ``handle(event, deps) -> Outcome``. No SDK imports here."""
