variable "project_id" {
  type        = string
  description = "GCP project of this environment."
}

variable "region" {
  type        = string
  description = "Region of the functions, buckets, Cloud Run and Cloud Scheduler."
}

variable "env" {
  type        = string
  description = "Environment name (dev, staging, prod): replaces {env} in the manifest and names the buckets."
}

variable "manifest_path" {
  type        = string
  description = "functions/manifest.yaml: the one list of functions this module deploys."
}

variable "schemas_dir" {
  type        = string
  description = "shared/schemas: the BigQuery table schemas the code reads too."
}

variable "bundles_dir" {
  type        = string
  description = "dist/: one deploy bundle per function (dist/<name>/), built by `mlops-events build --all`."
}

variable "sources_bucket_name" {
  type        = string
  description = "Bucket of the functions' source zips; null: <project>-mlops-events-sources-<env>."
  default     = null
}

variable "bigquery_location" {
  type        = string
  description = "BigQuery location of ml_registry and ml_monitoring."
  default     = "EU"
}

variable "firestore_location" {
  type        = string
  description = "Firestore database location (fixed once created)."
  default     = "eur3"
}

variable "kms_key_name" {
  type        = string
  description = "Optional CMEK for buckets, datasets and topics; null uses Google-managed keys."
  default     = null
}

variable "function_max_instances" {
  type        = number
  description = "Upper bound on instances of each function."
  default     = 10
}

variable "schedule_payloads" {
  # any, not map(any): a map's values are converted to one type, so payloads of different shapes
  # would have their numbers made strings ("window_hours": "24"). An object keeps each value's type.
  type        = any
  description = "Per function name, the scheduled job's payload (Pub/Sub data or HTTP body) replacing the manifest's trigger.payload (the manifest's is the dev demo's). An HTTP function's job needs one here unless the manifest has one."
  default     = {}
}

variable "drift_source_datasets" {
  type        = list(string)
  description = "BigQuery datasets drift runs may read as bq:// sources (dataViewer for the drift functions)."
  default     = []
}

variable "drift_report_retention_days" {
  type        = number
  description = "Days drift reports are kept in the drift-logs bucket."
  default     = 90
}

variable "budget" {
  type = object({
    billing_account             = string
    amount                      = number
    currency_code               = optional(string, "USD")
    current_spend_thresholds    = optional(list(number), [0.5, 0.9, 1.0])
    forecasted_spend_thresholds = optional(list(number), [1.0])
    scope_projects              = optional(list(string), [])
  })
  description = "The Cloud Billing budget whose updates budget_function turns into Slack messages; null: no budget."
  default     = null
}

variable "budget_function" {
  type        = string
  description = "The manifest function whose trigger topic the budget publishes to (the gcp-budget module owns that topic). Absent from the manifest or disabled: no budget."
  default     = "budget_alert"
}

variable "disabled_functions" {
  type        = list(string)
  description = "Manifest entries this environment does not deploy: planned exactly as if they were not in the manifest."
  default     = []
}

variable "bucket_prefix" {
  type        = string
  description = "Prefix of the model, drift and drift-logs bucket names (global names); null: \"<project_id>-\". The functions are told the prefixed patterns."
  default     = null
}

variable "inference" {
  type = object({
    image              = string
    model_name         = string
    min_instances      = optional(number, 0)
    max_instances      = optional(number, 5)
    cpu                = optional(string, "2")
    memory             = optional(string, "2Gi")
    inference_settings = optional(map(string), {})
    invoker_members    = optional(list(string), [])
    startup_probe_path = optional(string, "/readyz")
    # The Managed Service for Prometheus sidecar (cloud-run-service's prometheus_sidecar): on unless
    # enabled = false; config_secret names a secret holding a custom RunMonitoring config.
    prometheus_sidecar = optional(object({
      enabled       = optional(bool, true)
      config_secret = optional(string)
    }), {})
  })
  description = "The inference service on Cloud Run; null deploys none (no image pushed yet)."
  default     = null

  validation {
    condition     = var.inference == null || !anytrue([for member in try(var.inference.invoker_members, []) : contains(["allUsers", "allAuthenticatedUsers"], member)])
    error_message = "The inference service is never public: name its callers in invoker_members."
  }
}

variable "batch_job" {
  type = object({
    image           = string
    model_name      = string
    input_uri       = string
    output_uri      = string
    extra_args      = optional(list(string), [])
    input_buckets   = optional(list(string), [])
    output_buckets  = optional(list(string), [])
    input_datasets  = optional(list(string), [])
    output_datasets = optional(list(string), [])
    schedule        = optional(string)
    task_count      = optional(number, 1)
    parallelism     = optional(number, 0)
  })
  description = "The batch prediction Cloud Run job; null deploys none."
  default     = null
}

variable "labels" {
  type        = map(string)
  description = "Labels on GCP resources and tags on AWS ones."
  default     = {}
}
