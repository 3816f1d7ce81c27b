output "model_bucket" {
  description = "Name of the model bucket (ml-models-{env})."
  value       = google_storage_bucket.this["models"].name
}

output "drift_data_bucket" {
  description = "Name of the drift data bucket (ml-drift-{env})."
  value       = google_storage_bucket.this["drift_data"].name
}

output "drift_logs_bucket" {
  description = "Name of the drift reports bucket (ml-drift-logs-{env})."
  value       = google_storage_bucket.this["drift_logs"].name
}

output "predictions_bucket" {
  description = "Name of the captured predictions bucket (ml-predictions-{env})."
  value       = google_storage_bucket.this["predictions"].name
}

output "sources_bucket" {
  description = "Name of the functions' sources bucket."
  value       = google_storage_bucket.this["sources"].name
}

output "bucket_names" {
  description = "Every bucket, by role."
  value       = { for role, bucket in google_storage_bucket.this : role => bucket.name }
}

output "bucket_patterns" {
  description = "The code's bucket patterns ({env} kept) => the prefixed patterns deployed: what a manifest value naming a bucket pattern becomes."
  value       = { for role, pattern in local.patterns : pattern => "${var.name_prefix}${pattern}" }
}

output "model_bucket_pattern" {
  description = "The model bucket's pattern as the code names it (shared/config.py bucket_pattern)."
  value       = var.model_bucket_pattern
}
