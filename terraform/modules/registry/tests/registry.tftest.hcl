# terraform test: the registry's BigQuery tables and Firestore database, mock-applied.

mock_provider "google" {
  source = "../../tests/mocks/google"
}

variables {
  project_id             = "mlops-events-test-000000"
  bigquery_location      = "EU"
  firestore_location     = "eur3"
  models_schema_path     = "../../../shared/schemas/ml_registry.models.json"
  drift_runs_schema_path = "../../../shared/schemas/ml_monitoring.drift_runs.json"
}

run "tables_as_the_adapters_create_them" {
  assert {
    condition     = google_bigquery_table.models.time_partitioning[0].field == "registered_at" && google_bigquery_table.models.clustering == tolist(["model", "env"])
    error_message = "ml_registry.models: day partitions on registered_at, clustered on model, env."
  }
  assert {
    condition     = output.models_table_id == "mlops-events-test-000000.ml_registry.models"
    error_message = "The table id the code reads."
  }
  assert {
    condition     = google_firestore_field.ttl["idempotency"].field == "expire_at"
    error_message = "Idempotency claims expire on expire_at."
  }
  assert {
    condition     = google_firestore_database.this.delete_protection_state == "DELETE_PROTECTION_ENABLED"
    error_message = "The database is protected by default."
  }
}
