"""One backend per module. Cloud SDKs are imported by the factories in shared/deps.py, never here."""
