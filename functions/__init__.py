"""Entry points, one small module per function (see manifest.yaml)."""
