variable "project_id" {
  type        = string
  description = "GCP project of this environment (where the metrics, policies and channels live)."
}

variable "env" {
  type        = string
  description = "The environment: in display names and labels."
}

variable "manifest_path" {
  type        = string
  description = "functions/manifest.yaml: the functions, their dead-letter topics and schedules."
}

variable "disabled_functions" {
  type        = list(string)
  description = "Manifest entries this environment does not deploy (as the platform module's): nothing watches them."
  default     = []
}

variable "alert_function" {
  type        = string
  description = "The manifest's function that posts incidents to Slack: the Pub/Sub channel publishes to its trigger topic. Not deployed (disabled): no Pub/Sub channel."
  default     = "monitoring_alert"
}

variable "topic_ids" {
  type        = map(string)
  description = "Pub/Sub topic ids (projects/P/topics/T) by name, as the platform module outputs them (its `topics`)."
  default     = {}
}

variable "notification_email" {
  type        = string
  description = "Where P0 and P1 alerts are mailed; null: no email channel."
  default     = null
}

variable "pagerduty_channel_id" {
  type        = string
  description = "A PagerDuty notification channel (projects/P/notificationChannels/N) made out of band from the service key in Secret Manager (docs/runbooks/pagerduty-channel.md); P0 alerts page it. null: no PagerDuty."
  default     = null

  validation {
    condition     = var.pagerduty_channel_id == null || can(regex("^projects/[^/]+/notificationChannels/[0-9]+$", var.pagerduty_channel_id))
    error_message = "pagerduty_channel_id: projects/<project>/notificationChannels/<number> (gcloud beta monitoring channels list)."
  }
}

variable "monitoring_shadow_mode" {
  type        = bool
  description = "P1 and P2 policies stay (and open incidents in the console) but notify nobody, while their thresholds are tuned. P0 always notifies."
  default     = false
}

variable "runbook_base_url" {
  type        = string
  description = "Where docs/runbooks/ is browsable; each policy's documentation links <this>/<alert>.md."
  default     = "https://github.com/mlops-events/mlops-events/blob/main/docs/runbooks"
}

variable "inference_service" {
  type = object({
    name   = string
    region = string
  })
  description = "The inference service on Cloud Run (cloud-run-service module); null: not deployed, no inference policies."
  default     = null
}

variable "thresholds" {
  type = object({
    function_error_ratio  = optional(number, 0.05)   # error+retry share of a function's outcomes, 15 min
    rejected_per_15min    = optional(number, 10)     # rejected outcomes of one function, 15 min
    dead_letter_age_s     = optional(number, 432000) # 5 days: the holds keep messages 7
    inference_5xx_p0      = optional(number, 0.05)
    inference_5xx_p2      = optional(number, 0.02)
    inference_p95_ms      = optional(number, 2000)
    inference_memory      = optional(number, 0.85)
    inference_cpu         = optional(number, 0.8)
    inference_restarts    = optional(number, 2)   # container exits / failed probes, 10 min
    low_confidence_share  = optional(number, 0.2) # share of recent predictions under the service's threshold (0.7)
    feedback_accuracy_min = optional(number, 0.85)
    feedback_min_labels   = optional(number, 50) # joined labels a version needs before its accuracy can page
  })
  description = "Alert thresholds (defaults are the old platform's)."
  default     = {}
}

variable "labels" {
  type        = map(string)
  description = "Labels on every policy (user_labels) and channel."
  default     = {}
}
