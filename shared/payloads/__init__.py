"""Typed event models and their parsing: platform payloads in, domain events out.

Parsing raises `EventParseError` (a `PermanentError`) naming the bad field, and nothing else.
Import from the submodules (`shared.payloads.storage`, `shared.payloads.pubsub`, ...): a function loads
only the parsers of its own events.
"""
