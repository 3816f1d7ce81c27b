variable "project_id" {
  type        = string
  description = "GCP project of the datasets and the Firestore database."
}

variable "bigquery_location" {
  type        = string
  description = "BigQuery dataset location (e.g. EU, US or a region)."
}

variable "firestore_location" {
  type        = string
  description = "Firestore database location (e.g. eur3, nam5 or a region); fixed once created."
}

variable "registry_dataset" {
  type        = string
  description = "Dataset of the registry table (shared/config.py bigquery_dataset)."
  default     = "ml_registry"
}

variable "registry_table" {
  type        = string
  description = "The registry's current state: a view over the event log (shared/config.py bigquery_table)."
  default     = "models"
}

variable "registry_events_table" {
  type        = string
  description = "The registry's append-only event log (shared/adapters/bigquery_registry.py EVENTS_TABLE)."
  default     = "registry_events"
}

variable "aliases_view" {
  type        = string
  description = "View of where each alias points (shared/adapters/bigquery_registry.py ALIASES_VIEW)."
  default     = "aliases"
}

variable "monitoring_dataset" {
  type        = string
  description = "Dataset of the drift-run summaries (shared/config.py monitoring_dataset)."
  default     = "ml_monitoring"
}

variable "models_schema_path" {
  type        = string
  description = "shared/schemas/ml_registry.models.json: the code reads the same file."
}

variable "registry_events_schema_path" {
  type        = string
  description = "shared/schemas/ml_registry.registry_events.json; null: the file of that name beside models_schema_path (the views' SQL files are read from there too)."
  default     = null
}

variable "drift_runs_schema_path" {
  type        = string
  description = "shared/schemas/ml_monitoring.drift_runs.json: the code reads the same file."
}

variable "idempotency_collection" {
  type        = string
  description = "Firestore collection of idempotency claims (shared/config.py idempotency_collection)."
  default     = "idempotency"
}

variable "ttl_fields" {
  type        = map(string)
  description = "Firestore TTL policies, collection => timestamp field. Default: the idempotency claims' expire_at (shared/adapters/firestore_idempotency.py)."
  default     = null
}

variable "kms_key_name" {
  type        = string
  description = "Optional CMEK for the BigQuery datasets; null uses Google-managed keys."
  default     = null
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to destroy the tables and the Firestore database (keep true outside throwaway projects)."
  default     = true
}

variable "labels" {
  type        = map(string)
  description = "Labels on the datasets and tables."
  default     = {}
}
