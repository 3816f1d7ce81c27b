"""Typed event models and their parsing: platform payloads in, domain events out.

Parsing raises `EventParseError` (a `PermanentError`) naming the bad field, and nothing else.
"""

from shared.events.cloudevent import EventEnvelope, envelope_from_cloud_event
from shared.events.pubsub import PubsubMessage, parse_pubsub_message
from shared.events.storage import StorageObjectEvent, parse_storage_event

__all__ = [
    "EventEnvelope",
    "PubsubMessage",
    "StorageObjectEvent",
    "envelope_from_cloud_event",
    "parse_pubsub_message",
    "parse_storage_event",
]
