"""Data drift: feature histograms computed where the data lives (DuckDB over Parquet, BigQuery SQL),
and drift statistics computed from those histograms, so memory is O(features x bins)."""
