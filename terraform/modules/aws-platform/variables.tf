variable "env" {
  type        = string
  description = "Environment name (dev, staging, prod): every AWS name this deploys carries it, so environments can share an account."
}

variable "region" {
  type        = string
  description = "The AWS region the root's provider is configured for."
}

variable "manifest_path" {
  type        = string
  description = "functions/manifest.yaml: its aws-lambda entries are deployed here."
}

variable "bundles_dir" {
  type        = string
  description = "dist/: one deploy bundle per function (dist/<name>/), built by `mlops-events build --all`."
}

variable "disabled_functions" {
  type        = list(string)
  description = "Manifest entries this environment does not deploy: planned exactly as if they were not in the manifest."
  default     = []
}

variable "repositories" {
  type        = list(string)
  description = "ECR repositories whose pushes roll the k3s Deployments."
}

variable "create_repositories" {
  type        = bool
  description = "Create the ECR repositories (true), or follow existing ones of these names (false). Repository names are per account: where environments share an account, one of them creates them."
  default     = true
}

variable "rollout_targets_yaml" {
  type        = string
  description = "The rollout targets document stored in SSM (see events/ecr/targets.yaml)."
}

variable "log_retention_days" {
  type        = number
  description = "CloudWatch log retention of the Lambdas."
  default     = 30
}

variable "reserved_concurrency" {
  type        = number
  description = "Reserved concurrent executions per Lambda; null: unreserved (an account at the minimum concurrency quota refuses any reservation)."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Tags on every resource."
  default     = {}
}

variable "permissions_boundary_arn" {
  type        = string
  description = "The permissions boundary every role of this environment carries (terraform/bootstrap/aws: mlops-events-<env>-boundary)."
}
