variable "aws_account_id" {
  type        = string
  description = "The AWS account to bootstrap: the provider refuses credentials of any other (allowed_account_ids)."

  validation {
    condition     = can(regex("^[0-9]{12}$", var.aws_account_id))
    error_message = "aws_account_id: 12 digits."
  }
}

variable "aws_region" {
  type        = string
  description = "The region the environments deploy to (the workflows' AWS_REGION); the deploy roles act in it only."
  default     = "eu-west-1"
}

variable "github_repository" {
  type        = string
  description = "The one GitHub repository (OWNER/REPO) whose workflows may assume these roles."

  validation {
    condition     = can(regex("^[A-Za-z0-9-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository: OWNER/REPO."
  }
}

variable "environments" {
  type        = list(string)
  description = "The environments deployed to this account. Each gets an apply role for the GitHub environment <env> and a read-only plan role for <env>-plan (terraform.yml)."
  default     = ["dev"]

  validation {
    condition     = length(var.environments) > 0 && alltrue([for env in var.environments : can(regex("^[a-z][a-z0-9-]{0,15}$", env))])
    error_message = "environments: at least one; each lowercase letters, digits and hyphens, at most 16 characters, starting with a letter."
  }

  # Each apply role manages the roles named mlops-events-*-<env>: "pre-dev" beside "dev" would put
  # pre-dev's roles within dev's reach.
  validation {
    condition     = alltrue(flatten([for a in var.environments : [for b in var.environments : a == b || !endswith(a, "-${b}")]]))
    error_message = "environments: no name may end in \"-<another environment>\" (dev's apply role manages mlops-events-*-dev roles, which would include pre-dev's)."
  }
}

variable "create_oidc_provider" {
  type        = bool
  description = "Create the account's GitHub OIDC provider (one per account and URL); false where it exists already (another repository's bootstrap made it): it is then looked up."
  default     = true
}

variable "images" {
  type        = bool
  description = "Create the role deploy-containers.yml pushes images with (AWS_IMAGES_ROLE_ARN). One account holds it; others set false."
  default     = true
}

variable "image_repositories" {
  type        = list(string)
  description = "ECR repositories the image role pushes to (deploy-containers.yml: the image and its Lambda variant)."
  default     = ["ml/inference", "ml/inference-lambda"]
}
