variable "project_id" {
  type        = string
  description = "GCP project owning the buckets."
}

variable "env" {
  type        = string
  description = "Environment: bucket names are ml-models-{env}, ml-drift-{env}, ml-drift-logs-{env}, as the code expects."
}

variable "location" {
  type        = string
  description = "Bucket location; a region equal to the functions' region (GCS Eventarc triggers must live where the bucket does)."
}

variable "model_bucket_pattern" {
  type        = string
  description = "The code's model bucket pattern (shared/config.py bucket_pattern, the manifest's MLOPS_EVENTS_BUCKET_PATTERN)."
  default     = "ml-models-{env}"
}

variable "drift_data_bucket_pattern" {
  type        = string
  description = "Bucket of the drift reference and current Parquet data (events/drift fixtures: gs://ml-drift-{env}/...)."
  default     = "ml-drift-{env}"
}

variable "drift_logs_bucket_pattern" {
  type        = string
  description = "Bucket of drift reports and the reference cache (shared/config.py drift_logs_bucket)."
  default     = "ml-drift-logs-{env}"
}

variable "predictions_bucket_pattern" {
  type        = string
  description = "Bucket of the inference service's captured predictions, Parquet under {model}/dt=YYYY-MM-DD/ (shared/adapters/parquet_prediction_sink.py BUCKET)."
  default     = "ml-predictions-{env}"
}

variable "prediction_retention_days" {
  type        = number
  description = "Days a captured-predictions file is kept (drift reads windows within it)."
  default     = 90
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every bucket name but the sources bucket's (e.g. \"<project id>-\"): bucket names are global."
  default     = ""
}

variable "sources_bucket_name" {
  type        = string
  description = "Bucket of the functions' source zips (globally unique name)."
}

variable "drift_report_retention_days" {
  type        = number
  description = "Drift reports are deleted after this many days."
  default     = 90
}

variable "drift_cache_retention_days" {
  type        = number
  description = "Cached reference profiles (drift-cache/) are deleted sooner: a miss only recomputes them."
  default     = 14
}

variable "noncurrent_retention_days" {
  type        = number
  description = "Days an overwritten or deleted object's old generation is kept in the non-model buckets."
  default     = 30
}

variable "kms_key_name" {
  type        = string
  description = "Optional CMEK (projects/P/locations/L/keyRings/R/cryptoKeys/K) for every bucket; null uses Google-managed keys. The GCS service agent needs encrypter/decrypter on it."
  default     = null
}

variable "force_destroy" {
  type        = bool
  description = "Let terraform destroy non-empty buckets (dev only)."
  default     = false
}

variable "labels" {
  type        = map(string)
  description = "Labels on every bucket."
  default     = {}
}
