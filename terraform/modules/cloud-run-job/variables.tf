variable "project_id" {
  type        = string
  description = "GCP project of the job."
}

variable "region" {
  type        = string
  description = "Cloud Run region."
}

variable "env" {
  type        = string
  description = "Environment whose registry is read (--env)."
}

variable "name" {
  type        = string
  description = "Job name."
  default     = "batch-predict"
}

variable "image" {
  type        = string
  description = "The inference image (same as the service); the job runs python -m mlops_inference.batch_job."
}

variable "model_name" {
  type        = string
  description = "Registered model to predict with (--model)."
}

variable "input_uri" {
  type        = string
  description = "--input: gs://bucket/path/*.parquet or bq://project.dataset.table."
}

variable "output_uri" {
  type        = string
  description = "--output: gs://bucket/prefix/ or bq://project.dataset.table."
}

variable "extra_args" {
  type        = list(string)
  description = "Further batch_job arguments (--key-column, --batch-size, --timestamp-column, --start, --end)."
  default     = []
}

variable "task_count" {
  type        = number
  description = "Tasks per execution: each scores its share of the input (Parquet row groups, image files, BigQuery rows by key hash) and writes its own output part."
  default     = 1

  validation {
    condition     = var.task_count >= 1 && var.task_count <= 10000 && floor(var.task_count) == var.task_count
    error_message = "task_count is a whole number from 1 to 10000 (Cloud Run's limit)."
  }
}

variable "parallelism" {
  type        = number
  description = "Tasks running at once; 0 lets Cloud Run run as many as it can. At most task_count."
  default     = 0

  validation {
    condition     = var.parallelism >= 0 && floor(var.parallelism) == var.parallelism
    error_message = "parallelism is a whole number, 0 (as many as Cloud Run can) or more."
  }
}

variable "cpu" {
  type        = string
  description = "CPUs of the task."
  default     = "2"
}

variable "memory" {
  type        = string
  description = "Memory of the task."
  default     = "4Gi"
}

variable "timeout_s" {
  type        = number
  description = "How long one task may run."
  default     = 3600
}

variable "max_retries" {
  type        = number
  description = "Retries of a failed task (the job key names the output, so a retry rewrites the same object)."
  default     = 1
}

variable "bucket_pattern" {
  type        = string
  description = "The model buckets' pattern, prefixed, {env} kept (MLOPS_EVENTS_BUCKET_PATTERN: shared/config.py refuses one without {env})."
  default     = "ml-models-{env}"
}

variable "model_bucket" {
  type        = string
  description = "Model bucket: model files are read at their registered generation."
}

variable "input_buckets" {
  type        = list(string)
  description = "Buckets the job reads Parquet input from (objectViewer on each)."
  default     = []
}

variable "output_buckets" {
  type        = list(string)
  description = "Buckets the job writes predictions to (objectUser on each: a retry replaces the object it wrote)."
  default     = []
}

variable "input_datasets" {
  type        = list(string)
  description = "BigQuery datasets read for bq:// input (dataViewer on each)."
  default     = []
}

variable "output_datasets" {
  type        = list(string)
  description = "BigQuery datasets written for bq:// output (dataEditor on each)."
  default     = []
}

variable "schedule" {
  type        = string
  description = "Optional cron schedule; null runs the job only on demand (gcloud run jobs execute)."
  default     = null
}

variable "time_zone" {
  type        = string
  description = "Time zone of the schedule."
  default     = "Etc/UTC"
}

variable "labels" {
  type        = map(string)
  description = "Labels on the job."
  default     = {}
}
