variable "env" {
  type        = string
  description = "Environment name (dev, staging, prod): replaces {env} in the manifest's env values and suffixes the names this module chooses itself."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}$", var.env))
    error_message = "env: lowercase letters, digits and hyphens, at most 16 characters, starting with a letter."
  }
}

variable "function" {
  type = object({
    name        = string
    platform    = string
    description = optional(string, "")
    runtime     = string
    entry_point = string
    timeout_s   = number
    memory      = string
    env         = optional(map(string), {})
    secrets = optional(list(object({
      name = string
      env  = string
    })), [])
    retry = object({
      policy            = string
      max_attempts      = optional(number, 3)
      max_event_age_s   = optional(number, 3600)
      dead_letter_topic = string
    })
    trigger = object({
      kind = string
      # An EventBridge pattern is free-form JSON (source, detail-type, detail...).
      pattern = any
    })
  })
  description = "The function's entry in functions/manifest.yaml, as yamldecode gives it (other fields are dropped): name, runtime, entry_point, timeout_s, memory (\"512Mi\", \"1Gi\"), env, secrets [{name, env}], retry {policy, max_attempts, max_event_age_s, dead_letter_topic}, trigger {kind, pattern}."

  validation {
    condition     = var.function.platform == "aws-lambda" && var.function.trigger.kind == "eventbridge"
    error_message = "function: an aws-lambda manifest entry with an eventbridge trigger."
  }

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.function.memory))
    error_message = "function.memory: a whole number of Mi or Gi, e.g. \"512Mi\" or \"1Gi\"."
  }

  validation {
    condition     = var.function.timeout_s >= 1 && var.function.timeout_s <= 900
    error_message = "function.timeout_s: Lambda allows 1 to 900 seconds."
  }
}

variable "region" {
  type        = string
  description = "The AWS region the provider is configured for (ARNs in the key and role policies are built from it)."
}

variable "bundle_dir" {
  type        = string
  description = "The function's deploy bundle (dist/<name>/ from `mlops-events build`, built for Linux x86_64 and Python 3.11); its zip beside it (dist/<name>.zip) is what deploys."
}

variable "repositories" {
  type        = list(string)
  description = "ECR repository names whose pushes trigger the rollout (e.g. [\"ml/inference\", \"ml/batch-predict\"]): the ones the rollout targets follow."

  validation {
    condition     = length(var.repositories) > 0
    error_message = "repositories: at least one (an empty list would make the rule match every repository's pushes)."
  }
}

variable "rollout_targets_yaml" {
  type        = string
  description = "The rollout targets document (see events/ecr/targets.yaml), stored in the SSM parameter the manifest names; the Lambda re-reads it every minute."
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the Lambda's log group, in days (a value CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
}

variable "tags" {
  type        = map(string)
  description = "Tags on every resource that takes them."
  default     = {}
}

variable "create_repositories" {
  type        = bool
  description = "Create the ECR repositories (true), or use existing ones of these names (false): when several environments share one AWS account, one of them owns the repositories."
  default     = true
}

variable "image_count_to_keep" {
  type        = number
  description = "ECR lifecycle policy: keep this many most recent images per repository besides releases (older ones are expired). A rollback needs the previous image, so keep a few."
  default     = 50
}

variable "reserved_concurrency" {
  type        = number
  description = "Reserved concurrent executions of the Lambda: bounds how many pushes roll out at once against the k3s API. null (default): unreserved, as an account at the minimum concurrency quota (10) refuses any reservation; 5 is a good bound where the quota allows."
  default     = null
}

variable "architecture" {
  type        = string
  description = "Lambda architecture. The bundle's vendored wheels are built for x86_64 (tooling/bundle.py); arm64 needs a bundle built for it."
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture: x86_64 or arm64."
  }
}

variable "vpc_config" {
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  description = "Run the Lambda in these subnets (null: outside any VPC). Needed when the k3s API server is reachable only from a private network; the subnets then need a route to DynamoDB, SSM, Secrets Manager, SQS, X-Ray and Slack (NAT or VPC endpoints)."
  default     = null
}

variable "secret_recovery_window_days" {
  type        = number
  description = "Days a deleted Secrets Manager secret can still be restored (0 deletes at once; otherwise 7 to 30)."
  default     = 30
}

variable "deletion_protection" {
  type        = bool
  description = "Deletion protection on the idempotency table (its records are what makes a redelivered push a duplicate)."
  default     = true
}

variable "artifact_bucket" {
  type        = string
  description = "An S3 bucket to upload the zipped bundle to (null: upload it directly with the function). Lambda takes at most 50 MB zipped in a direct upload."
  default     = null
}

variable "release_tag_patterns" {
  type        = list(string)
  description = "ECR lifecycle policy: tags (wildcards allowed) that mark a release. Each pattern gets a rule of its own (a rule's patterns must all match one tag), kept ahead of the catch-all so branch builds cannot expire releases."
  default     = ["*.*.*", "stable"]
}

variable "release_images_to_keep" {
  type        = number
  description = "ECR lifecycle policy: keep this many most recent release images per repository."
  default     = 100
}

variable "permissions_boundary_arn" {
  type        = string
  description = "The permissions boundary the function's role carries: the environment's mlops-events-<env>-boundary (terraform/bootstrap/aws, output permissions_boundaries). The apply role may create roles only with it."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/.+$", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn: an IAM policy ARN (arn:aws:iam::<account>:policy/<name>)."
  }
}
