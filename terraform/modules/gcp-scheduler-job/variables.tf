variable "project_id" {
  type        = string
  description = "GCP project of the job."
}

variable "region" {
  type        = string
  description = "Cloud Scheduler location."
}

variable "name" {
  type        = string
  description = "Job name. The function reads it back as the run's job (X-CloudScheduler-JobName or the scheduler_job attribute)."
}

variable "description" {
  type        = string
  description = "What the job fires."
  default     = ""
}

variable "schedule" {
  type        = string
  description = "Cron schedule (the manifest's trigger.schedule)."
}

variable "time_zone" {
  type        = string
  description = "Time zone of the schedule (the manifest's trigger.time_zone)."
  default     = "Etc/UTC"
}

variable "attempt_deadline_s" {
  type        = number
  description = "How long an HTTP call may take before Cloud Scheduler counts it failed (15..1800 s; the function's timeout)."
  default     = 180
}

variable "retry" {
  type = object({
    max_attempts  = optional(number, 1)
    min_backoff_s = optional(number, 5)
    max_backoff_s = optional(number, 3600)
  })
  description = "Cloud Scheduler's own retries: max_attempts counts every attempt, the first included (the manifest's retry for kind http, policy scheduler; for Pub/Sub targets the subscription retries instead, so 1)."
  default     = {}
}

variable "pubsub_target" {
  type = object({
    topic_id   = string
    payload    = optional(any, {})
    attributes = optional(map(string), {})
  })
  description = "Publish to this topic (full id): payload is JSON-encoded and base64'd, attributes as given. Exactly one of pubsub_target and http_target."
  default     = null
}

variable "http_target" {
  type = object({
    uri          = string
    service_name = string
    http_method  = optional(string, "POST")
    body         = optional(any)
    headers      = optional(map(string), {})
  })
  description = "Call this Cloud Run URI with an OIDC token (audience = the URI) of an own invoker service account, which gets run.invoker on service_name only."
  default     = null
}
