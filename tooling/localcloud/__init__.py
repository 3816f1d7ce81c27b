"""The local cloud behind `mlops-events up`: the real emulators, every function on its own port, and the
trigger wiring between them, driven by functions/manifest.yaml as Terraform is."""
