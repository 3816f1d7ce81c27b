variable "project_id" {
  type        = string
  description = "GCP project the function runs in."
}

variable "region" {
  type        = string
  description = "Region of the function, its Eventarc triggers and its Cloud Run service (must match the model bucket's location for storage triggers)."
}

variable "env" {
  type        = string
  description = "Environment (dev, staging, prod): replaces {env} in the manifest's env values."
}

variable "name" {
  type        = string
  description = "The manifest's function name (snake_case); the deployed name uses hyphens."
}

variable "description" {
  type        = string
  description = "The manifest's description."
  default     = ""
}

variable "entry_point" {
  type        = string
  description = "The manifest's entry_point: the function functions-framework loads from main.py."
}

variable "runtime" {
  type        = string
  description = "Cloud Functions runtime (the manifest's runtime)."
  default     = "python311"
}

variable "source_dir" {
  type        = string
  description = "Deploy bundle directory built by `mlops-events build` (dist/<function>/); its zip beside it (dist/<function>.zip) is what deploys."
}

variable "sources_bucket" {
  type        = string
  description = "Bucket holding the zipped sources, one object per content hash."
}

variable "timeout_s" {
  type        = number
  description = "The manifest's timeout_s (Cloud Functions gen2: at most 540 s for event-driven functions, 3600 s for HTTP)."
  default     = 60
}

variable "memory" {
  type        = string
  description = "The manifest's memory, e.g. 256Mi."
  default     = "256Mi"
}

variable "max_instances" {
  type        = number
  description = "Upper bound on instances: caps the cost of an event storm and the load on BigQuery and Firestore."
  default     = 10
}

variable "min_instances" {
  type        = number
  description = "Warm instances kept (0: scale to zero and pay a cold start)."
  default     = 0
}

variable "ingress_settings" {
  type        = string
  description = "ALLOW_INTERNAL_ONLY admits Eventarc, Pub/Sub push and Cloud Scheduler of the same project; nothing from the internet."
  default     = "ALLOW_INTERNAL_ONLY"
}

variable "env_vars" {
  type        = map(string)
  description = "The manifest's env, verbatim ({env} in a value is a pattern the code resolves: MLOPS_EVENTS_BUCKET_PATTERN must keep it). MLOPS_EVENTS_PROFILE and MLOPS_EVENTS_GCP_PROJECT are added."
  default     = {}
}

variable "secrets" {
  type = list(object({
    name      = string
    env       = string
    secret_id = string
  }))
  description = "The manifest's secrets: the variable `env` is set to the secret's id (never its value, which the code reads at run time); secret_id is the Secret Manager secret the function may access."
  default     = []
}

variable "trigger" {
  type = object({
    kind        = string
    event_types = optional(list(string), [])
    filters     = optional(map(string), {})
    topic       = optional(string)
  })
  description = "The manifest's trigger: kind eventarc (GCS event types + filters), pubsub or schedule (topic, delivered by an own push subscription), or http (called by Cloud Scheduler with OIDC)."

  validation {
    condition     = contains(["eventarc", "pubsub", "schedule", "http"], var.trigger.kind)
    error_message = "trigger.kind must be eventarc, pubsub, schedule or http (eventbridge is the aws-ecr-rollout module's)."
  }

  validation {
    condition     = var.trigger.kind != "eventarc" || length(var.trigger.event_types) > 0
    error_message = "An eventarc trigger needs at least one event type."
  }

  validation {
    condition     = !contains(["pubsub", "schedule"], var.trigger.kind) || var.trigger.topic != null
    error_message = "pubsub and schedule triggers need a topic."
  }
}

variable "retry" {
  type = object({
    policy            = string
    max_attempts      = optional(number, 5)
    min_backoff_s     = optional(number, 10)
    max_backoff_s     = optional(number, 600)
    dead_letter_topic = optional(string)
  })
  description = "The manifest's retry. eventarc: retry_on_failure turns on Eventarc's retries (24 h, no custom backoff, no dead letter). pubsub/schedule: the push subscription's backoff and dead-letter policy. http: the caller's (Cloud Scheduler's)."
}

variable "dead_letter_topic_id" {
  type        = string
  description = "Full id (projects/P/topics/T) of retry.dead_letter_topic, for pubsub and schedule triggers (may be unknown until apply: whether there is one is read from retry.dead_letter_topic)."
  default     = null
}

variable "build_service_account" {
  type        = string
  description = "Service account Cloud Build builds the function as (projects/P/serviceAccounts/EMAIL); null: the project's default, which projects created since mid-2024 do not let build."
  default     = null
}

variable "prerequisites" {
  type        = list(string)
  description = "Ids of grants made outside this module that the function's build and triggers need to exist first (the build identity's roles, the GCS service agent's publisher role)."
  default     = []
}

variable "labels" {
  type        = map(string)
  description = "Labels on the function."
  default     = {}
}
