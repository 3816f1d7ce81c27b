variable "env" {
  type        = string
  description = "The environment (dev, staging, prod, ...): the suffix of its names; its files are terraform/environments/<env>.gcp.*."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}$", var.env))
    error_message = "env: lowercase letters, digits and hyphens, at most 16 characters, starting with a letter (it ends bucket, topic and job names)."
  }
}

variable "project_id" {
  type        = string
  description = "GCP project of this environment."
}

variable "region" {
  type        = string
  description = "GCP region of functions, buckets, Cloud Run and Cloud Scheduler."
  default     = "europe-west1"
}

variable "billing_project" {
  type        = string
  description = "Project the provider bills API calls and quota to (user_project_override); null: project_id."
  default     = null
}

variable "bucket_prefix" {
  type        = string
  description = "Prefix of the model and drift bucket names (global names); null: \"<project_id>-\"."
  default     = null
}

variable "disabled_functions" {
  type        = list(string)
  description = "Manifest entries this environment does not deploy."
  default     = []
}

variable "bundles_dir" {
  type        = string
  description = "Deploy bundles (mlops-events build --all); null: the repository's dist/."
  default     = null
}

variable "bigquery_location" {
  type        = string
  description = "BigQuery location of ml_registry and ml_monitoring."
  default     = "EU"
}

variable "firestore_location" {
  type        = string
  description = "Firestore database location."
  default     = "eur3"
}

variable "kms_key_name" {
  type        = string
  description = "Optional CMEK for buckets, datasets and topics."
  default     = null
}

variable "schedule_payloads" {
  # any, not map(any): payloads of different shapes keep their own types (a map would make numbers strings).
  type        = any
  description = "Scheduled jobs' payloads by function name, replacing the manifest's demo payload."
  default     = {}
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
  description = "The Cloud Billing budget budget_alert reports on; null: none."
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
  description = "The inference service; null: none yet."
  default     = null
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
  description = "The batch prediction job; null: none."
  default     = null
}

variable "labels" {
  type        = map(string)
  description = "Labels/tags on every resource."
  default     = {}
}

variable "monitoring_shadow_mode" {
  type        = bool
  description = "P1 and P2 alert policies stay but notify nobody (thresholds being tuned); P0 always notifies."
  default     = false
}

variable "alert_email" {
  type        = string
  description = "Email address P0 and P1 alerts go to; null: none (Slack through monitoring_alert only)."
  default     = null
}

variable "pagerduty_channel_id" {
  type        = string
  description = "PagerDuty notification channel id, made out of band from the service key in Secret Manager (docs/runbooks/pagerduty-channel.md); P0 alerts page it. null: no PagerDuty."
  default     = null
}
