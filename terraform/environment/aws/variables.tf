variable "env" {
  type        = string
  description = "The environment (dev, staging, prod, ...): every AWS name carries it; its files are terraform/environments/<env>.aws.*."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}$", var.env))
    error_message = "env: lowercase letters, digits and hyphens, at most 16 characters, starting with a letter."
  }
}

variable "aws_account_id" {
  type        = string
  description = "The AWS account of this environment: the provider refuses credentials of any other (allowed_account_ids)."

  validation {
    condition     = can(regex("^[0-9]{12}$", var.aws_account_id))
    error_message = "aws_account_id: 12 digits."
  }
}

variable "aws_region" {
  type        = string
  description = "AWS region of the ECR rollout Lambda and its repositories."
  default     = "eu-west-1"
}

variable "bundles_dir" {
  type        = string
  description = "Deploy bundles (mlops-events build --all); null: the repository's dist/."
  default     = null
}

variable "disabled_functions" {
  type        = list(string)
  description = "Manifest entries this environment does not deploy."
  default     = []
}

variable "ecr_repositories" {
  type        = list(string)
  description = "ECR repositories whose pushes roll the k3s Deployments."
  default     = ["ml/inference", "ml/batch-predict"]
}

variable "create_repositories" {
  type        = bool
  description = "Create the ECR repositories; false where another environment in the same account already does."
  default     = true
}

variable "rollout_targets_yaml" {
  type        = string
  description = "Rollout targets document stored in SSM for ecr_rollout; null: the sample events/ecr/targets.yaml."
  default     = null
}

variable "log_retention_days" {
  type        = number
  description = "CloudWatch log retention of the Lambda."
  default     = 30
}

variable "reserved_concurrency" {
  type        = number
  description = "Reserved concurrent executions of the Lambda; null: unreserved (accounts at the minimum concurrency quota refuse any)."
  default     = null
}

variable "alarm_email" {
  type        = string
  description = "Email address subscribed to the alarm topic (the owner confirms it); null: none."
  default     = null
}

variable "aws_budget" {
  type = object({
    amount          = number
    currency        = optional(string, "USD")
    email_addresses = optional(list(string), [])
  })
  description = "The account's monthly cost budget (notifications at 80% and 100%, actual and forecasted, to the alarm topic); null: none. One environment per account sets it."
  default     = null
}

variable "permissions_boundary_policy" {
  type        = string
  description = "Name of the permissions boundary policy the bootstrap made for this environment (terraform/bootstrap/aws, output permissions_boundaries: mlops-events-<env>-boundary); its ARN is built with aws_account_id. null: mlops-events-<env>-boundary."
  default     = null
}
