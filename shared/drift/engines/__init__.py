"""Drift engines: where each side's histograms are computed, next to the data.

- `duckdb_parquet`: Parquet files read by DuckDB, each numeric column sorted in numpy;
- `bigquery_sql`: a BigQuery table, aggregated in BigQuery (only histograms come back);
- `parquet_files`: the DuckDB engine over a `ParquetFiles` port (local buckets or GCS), with the
  reference profile cached;
- `by_location`: sends each side to the engine where its location points (`gs://` or `bq://`).

Every engine returns the engine-neutral types of `shared.drift.profiles`; the decision
(`shared.drift.detect`, `comparison`, `statistics`, `refine`) never imports an engine. A new engine goes
here, registers how its source reads back (`profiles.register_source`), and passes the oracle suite
(tests/unit/shared/drift/test_drift_oracle.py, tests/integration/shared/drift/test_drift_oracle_bigquery.py).
"""
