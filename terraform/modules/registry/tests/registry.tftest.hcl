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
    condition     = google_bigquery_table.registry_events.time_partitioning[0].field == "event_time" && google_bigquery_table.registry_events.clustering == tolist(["model", "env", "kind"])
    error_message = "ml_registry.registry_events: day partitions on event_time, clustered on model, env, kind."
  }
  assert {
    condition     = output.models_table_id == "mlops-events-test-000000.ml_registry.models"
    error_message = "The view id the code reads."
  }
  assert {
    condition     = strcontains(google_bigquery_table.models.view[0].query, "FROM `mlops-events-test-000000.ml_registry.registry_events`") && !google_bigquery_table.models.view[0].use_legacy_sql
    error_message = "ml_registry.models is a standard SQL view over the event log."
  }
  assert {
    condition     = strcontains(google_bigquery_table.aliases.view[0].query, "kind = 'alias_moved'") && output.aliases_view_id == "mlops-events-test-000000.ml_registry.aliases"
    error_message = "ml_registry.aliases is a view of the alias moves."
  }
  assert {
    condition     = length(google_bigquery_table.models.time_partitioning) == 0 && google_bigquery_table.registry_events.schema == file("../../../shared/schemas/ml_registry.registry_events.json")
    error_message = "The views are not partitioned; the log's schema is read from beside the models schema."
  }
  assert {
    condition     = google_firestore_field.ttl["idempotency"].field == "expire_at"
    error_message = "Idempotency claims expire on expire_at."
  }
  assert {
    condition     = google_firestore_database.this.delete_protection_state == "DELETE_PROTECTION_ENABLED"
    error_message = "The database is protected by default."
  }
  assert {
    condition     = google_firestore_index.feedback_accuracy.collection == "feedback" && [for f in google_firestore_index.feedback_accuracy.fields : f.field_path] == ["model", "env", "version", "joined", "hit"]
    error_message = "The feedback accuracy aggregation has its composite index: the filters' fields, then hit."
  }
}
