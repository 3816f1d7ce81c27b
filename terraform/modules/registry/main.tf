# The registry's and the drift runs' stores, created here so the functions never need create rights:
# BigQuery tables partitioned and clustered exactly as shared/adapters/bigquery_statements.py
# ensure_partitioned_table would create them, the registry's views over its event log from the same
# SQL files the adapter reads, and the Firestore database with its TTL policies.

locals {
  # The registry's other files sit beside the models schema in shared/schemas (the platform passes its path).
  schemas_dir                 = dirname(var.models_schema_path)
  registry_events_schema_path = coalesce(var.registry_events_schema_path, "${local.schemas_dir}/ml_registry.registry_events.json")
  models_view_path            = "${local.schemas_dir}/ml_registry.models.view.sql"
  aliases_view_path           = "${local.schemas_dir}/ml_registry.aliases.view.sql"
  # The inference service's captured predictions, beside drift_runs in ml_monitoring.
  predictions_schema_path  = "${dirname(var.drift_runs_schema_path)}/ml_monitoring.predictions.json"
  registry_events_table_id = "${var.project_id}.${google_bigquery_dataset.registry.dataset_id}.${google_bigquery_table.registry_events.table_id}"

  # The alert ledger (budget_alerts) keeps no expiring field: its `highest` per budget period is the
  # memory that stops a repeat, and a period's documents are few. The registry collections are kept.
  ttl_fields = coalesce(var.ttl_fields, { (var.idempotency_collection) = "expire_at" })
}

# -- BigQuery --------------------------------------------------------------------------------------
resource "google_bigquery_dataset" "registry" {
  project       = var.project_id
  dataset_id    = var.registry_dataset
  location      = var.bigquery_location
  description   = "Model registry: one row per model object version (register_model, reconcile_registry)."
  labels        = var.labels
  friendly_name = var.registry_dataset

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]

    content {
      kms_key_name = default_encryption_configuration.value
    }
  }
}

resource "google_bigquery_dataset" "monitoring" {
  project       = var.project_id
  dataset_id    = var.monitoring_dataset
  location      = var.bigquery_location
  description   = "Drift monitoring: one summary row per drift run (drift_report)."
  labels        = var.labels
  friendly_name = var.monitoring_dataset

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]

    content {
      kms_key_name = default_encryption_configuration.value
    }
  }
}

# The registry is an append-only log: registrations, deletions and alias moves are streamed in (no DML,
# whose per-table limits a burst of uploads would queue on), and users read the current state through views.
resource "google_bigquery_table" "registry_events" {
  # checkov:skip=CKV_GCP_80:CMEK is optional and set on the dataset (default_encryption_configuration from var.kms_key_name); tables inherit it.
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.registry.dataset_id
  table_id            = var.registry_events_table
  description         = "The registry's event log: one row per registration, deletion or alias move (event_key de-duplicates)."
  schema              = file(local.registry_events_schema_path)
  clustering          = ["model", "env", "kind"]
  deletion_protection = var.deletion_protection
  labels              = var.labels

  # As BigQueryRegistryTable.ensure_table: day partitions on event_time, clustered on model, env, kind.
  time_partitioning {
    type  = "DAY"
    field = "event_time"
  }
}

resource "google_bigquery_table" "models" {
  # checkov:skip=CKV_GCP_80:CMEK is optional and set on the dataset (default_encryption_configuration from var.kms_key_name); tables inherit it.
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.registry.dataset_id
  table_id            = var.registry_table
  description         = "One row per GCS object version of a model (record_key = bucket/name#generation), from the event log."
  deletion_protection = var.deletion_protection
  labels              = var.labels

  # The columns of shared/schemas/ml_registry.models.json, as the MERGE-maintained table had them.
  view {
    query          = templatefile(local.models_view_path, { events_table = local.registry_events_table_id })
    use_legacy_sql = false
  }
}

resource "google_bigquery_table" "aliases" {
  # checkov:skip=CKV_GCP_80:CMEK is optional and set on the dataset (default_encryption_configuration from var.kms_key_name); tables inherit it.
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.registry.dataset_id
  table_id            = var.aliases_view
  description         = "Where each alias (champion, candidate, ...) of a model points now, per env; every move is in the log."
  deletion_protection = var.deletion_protection
  labels              = var.labels

  view {
    query          = templatefile(local.aliases_view_path, { events_table = local.registry_events_table_id })
    use_legacy_sql = false
  }
}

resource "google_bigquery_table" "drift_runs" {
  # checkov:skip=CKV_GCP_80:CMEK is optional and set on the dataset (default_encryption_configuration from var.kms_key_name); tables inherit it.
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.monitoring.dataset_id
  table_id            = "drift_runs"
  description         = "One summary row per drift run (run_key = job@schedule time)."
  schema              = file(var.drift_runs_schema_path)
  clustering          = ["model", "env"]
  deletion_protection = var.deletion_protection
  labels              = var.labels

  # As BigQueryDriftRunStore.ensure_table: day partitions on started_at, clustered on model, env.
  time_partitioning {
    type  = "DAY"
    field = "started_at"
  }
}

resource "google_bigquery_table" "predictions" {
  # checkov:skip=CKV_GCP_80:CMEK is optional and set on the dataset (default_encryption_configuration from var.kms_key_name); tables inherit it.
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.monitoring.dataset_id
  table_id            = "predictions"
  description         = "What the inference service served (mlops_inference.capture): one row per row or image, streamed in."
  schema              = file(local.predictions_schema_path)
  clustering          = ["model", "request_id"]
  deletion_protection = var.deletion_protection
  labels              = var.labels

  # As BigQueryPredictionSink.ensure_table: day partitions on served_at, clustered on model (drift runs read
  # one model's days) then request_id (/feedback looks one request up: a few blocks, not the model's days).
  time_partitioning {
    type  = "DAY"
    field = "served_at"
  }
}

# -- Firestore -------------------------------------------------------------------------------------
resource "google_firestore_database" "this" {
  project                           = var.project_id
  name                              = "(default)"
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.deletion_protection ? "ABANDON" : "DELETE"
}

# Expired claims are deleted by Firestore itself (within about a day of expire_at).
resource "google_firestore_field" "ttl" {
  for_each = local.ttl_fields

  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = each.key
  field      = each.value

  ttl_config {}

  # A TTL timestamp is never queried: no single-field index on it, so no index write hot spot.
  index_config {}
}

# The inference service's accuracy gauge: AVG(hit) over one served version's joined labels in `feedback`,
# an aggregation Firestore computes by scanning an index of the filters' fields and the averaged one
# (mlops_inference.feedback.ACCURACY_INDEX; tests/functional/test_feedback_index.py holds them equal).
resource "google_firestore_index" "feedback_accuracy" {
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = "feedback"

  dynamic "fields" {
    for_each = ["model", "env", "version", "joined", "hit"]

    content {
      field_path = fields.value
      order      = "ASCENDING"
    }
  }
}
