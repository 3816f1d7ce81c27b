"""Common library of mlops-events: events, ports, adapters, config, logging, CLI."""
