variable "project_id" {
  type        = string
  description = "GCP project of the service."
}

variable "region" {
  type        = string
  description = "Cloud Run region."
}

variable "env" {
  type        = string
  description = "Environment whose registry and model bucket are served (ENV)."
}

variable "name" {
  type        = string
  description = "Service name."
  default     = "inference"
}

variable "model_name" {
  type        = string
  description = "The registered model this service serves (MODEL_NAME)."
}

variable "image" {
  type        = string
  description = "Inference image (containers/inference/Dockerfile, target runtime), preferably pinned by digest."
}

variable "cpu" {
  type        = string
  description = "CPUs per instance; torch uses them all."
  default     = "2"
}

variable "memory" {
  type        = string
  description = "Memory per instance."
  default     = "2Gi"
}

variable "min_instances" {
  type        = number
  description = "Warm instances (loading a model takes seconds: keep 1 where latency matters)."
  default     = 0
}

variable "max_instances" {
  type        = number
  description = "Upper bound on instances."
  default     = 5
}

variable "concurrency" {
  type        = number
  description = "Requests per instance at once: the micro-batcher gathers them into one forward pass."
  default     = 32
}

variable "inference_settings" {
  type        = map(string)
  description = "INFERENCE_* variables (containers/inference/mlops_inference/settings.py): INFERENCE_BATCHING, INFERENCE_MAX_BATCH_SIZE, INFERENCE_MAX_WAIT_MS, INFERENCE_MAX_ROWS, INFERENCE_MAX_BODY_BYTES, INFERENCE_RELOAD_S, INFERENCE_THREADS."
  default     = {}

  validation {
    condition     = alltrue([for key in keys(var.inference_settings) : startswith(key, "INFERENCE_")])
    error_message = "Only INFERENCE_* variables belong here."
  }
}

variable "bucket_pattern" {
  type        = string
  description = "The model buckets' pattern, prefixed, {env} kept (MLOPS_EVENTS_BUCKET_PATTERN: shared/config.py refuses one without {env})."
  default     = "ml-models-{env}"
}

variable "model_bucket" {
  type        = string
  description = "Model bucket (ml-models-{env}): the service reads model files at the generation the registry pinned."
}

variable "monitoring_dataset" {
  type        = string
  description = "Dataset of drift_runs: /monitoring/drift reads the latest run."
}

variable "predictions_table" {
  type        = string
  description = "Table id in monitoring_dataset of the captured predictions (predictions): the service streams rows into it. Null: no grant."
  default     = null
}

variable "predictions_bucket" {
  type        = string
  description = "Bucket of captured predictions as Parquet (ml-predictions-{env}, prefixed): INFERENCE_CAPTURE_BUCKET, and object create rights. Null: none."
  default     = null
}

variable "invoker_members" {
  type        = list(string)
  description = "Who may call the service (e.g. serviceAccount:frontend@P.iam.gserviceaccount.com). Default none; allUsers is refused."
  default     = []

  validation {
    condition     = !anytrue([for member in var.invoker_members : contains(["allUsers", "allAuthenticatedUsers"], member)])
    error_message = "The inference service is never public: name the callers."
  }
}

variable "ingress" {
  type        = string
  description = "Cloud Run ingress (INGRESS_TRAFFIC_ALL with IAM-checked callers, or INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER behind a load balancer)."
  default     = "INGRESS_TRAFFIC_ALL"
}

variable "labels" {
  type        = map(string)
  description = "Labels on the service."
  default     = {}
}

variable "startup_probe_path" {
  type        = string
  description = "Startup probe path: /readyz (ready with a model loaded) or /healthz for a first deploy before any model is registered."
  default     = "/readyz"
}

variable "prometheus_sidecar" {
  type = object({
    enabled = optional(bool, true)
    # Pinned: a new collector is a reviewed change, not whatever the tag points to today.
    image         = optional(string, "us-docker.pkg.dev/cloud-ops-agents-artifacts/cloud-run-gmp-sidecar/cloud-run-gmp-sidecar:1.2.0")
    config_secret = optional(string)
    cpu           = optional(string, "1")
    memory        = optional(string, "512Mi")
  })
  description = "Managed Service for Prometheus sidecar (run-gmp-sidecar) sending the service's /metrics to Cloud Monitoring: on by default ({ enabled = false } turns it off). config_secret: id of a Secret Manager secret in project_id holding a custom RunMonitoring config (value added out of band), mounted at /etc/rungmp/config.yaml; null: the sidecar's built-in config (port 8080, /metrics, every 30 s). cpu, memory: the sidecar's own limits."
  default     = {}
  nullable    = false

  validation {
    condition     = var.prometheus_sidecar.config_secret == null || can(regex("^[A-Za-z0-9_-]{1,255}$", var.prometheus_sidecar.config_secret))
    error_message = "prometheus_sidecar.config_secret: a secret id in project_id (letters, digits, - and _), not a path or a version."
  }
}
