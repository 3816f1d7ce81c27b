output "registry_dataset_id" {
  description = "Dataset of the registry table."
  value       = google_bigquery_dataset.registry.dataset_id
}

output "monitoring_dataset_id" {
  description = "Dataset of the drift_runs table."
  value       = google_bigquery_dataset.monitoring.dataset_id
}

output "models_table_id" {
  description = "project.dataset.view of the registry's current state (shared/config.py bigquery_table_id)."
  value       = "${var.project_id}.${google_bigquery_dataset.registry.dataset_id}.${google_bigquery_table.models.table_id}"
}

output "registry_events_table_id" {
  description = "project.dataset.table of the registry's event log."
  value       = local.registry_events_table_id
}

output "aliases_view_id" {
  description = "project.dataset.view of the aliases."
  value       = "${var.project_id}.${google_bigquery_dataset.registry.dataset_id}.${google_bigquery_table.aliases.table_id}"
}

output "predictions_table" {
  description = "Table id (in the monitoring dataset) of the inference service's captured predictions."
  value       = google_bigquery_table.predictions.table_id
}

output "drift_runs_table_id" {
  description = "project.dataset.table of the drift runs."
  value       = "${var.project_id}.${google_bigquery_dataset.monitoring.dataset_id}.${google_bigquery_table.drift_runs.table_id}"
}

output "firestore_database" {
  description = "The Firestore database's name."
  value       = google_firestore_database.this.name
}

output "ttl_fields" {
  description = "TTL policies, collection => field."
  value       = local.ttl_fields
}
