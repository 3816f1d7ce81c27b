variable "project_id" {
  type        = string
  description = "The GCP project to bootstrap: where the environments' Terraform state, CI's identities and (with images) the image repository live."
}

variable "region" {
  type        = string
  description = "Region of the Artifact Registry repository (the workflows' GCP_REGION)."
  default     = "europe-west1"
}

variable "billing_project" {
  type        = string
  description = "Project the provider bills API calls and quota to (user_project_override); null: project_id."
  default     = null
}

variable "github_repository" {
  type        = string
  description = "The one GitHub repository (OWNER/REPO) whose workflows may use these identities: the Workload Identity provider refuses tokens of any other."

  validation {
    condition     = can(regex("^[A-Za-z0-9-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository: OWNER/REPO."
  }
}

variable "github_repository_id" {
  type        = string
  description = "The repository's numeric id (gh api repos/OWNER/REPO --jq .id); when set, the provider also requires it, so a repository deleted and re-created under the same name by someone else is refused. null: the name only."
  default     = null

  validation {
    condition     = var.github_repository_id == null || can(regex("^[0-9]+$", var.github_repository_id))
    error_message = "github_repository_id: digits."
  }
}

variable "environments" {
  type        = list(string)
  description = "The environments whose Terraform runs in this project. Each gets an apply identity for the GitHub environment <env> and a read-only plan identity for <env>-plan (terraform.yml)."
  default     = ["dev"]

  validation {
    condition     = length(var.environments) > 0 && alltrue([for env in var.environments : can(regex("^[a-z][a-z0-9-]{0,15}$", env))])
    error_message = "environments: at least one; each lowercase letters, digits and hyphens, at most 16 characters, starting with a letter."
  }
}

variable "state_bucket" {
  type        = string
  description = "Name of the bucket holding the environments' states (the workflows' TF_STATE_BUCKET); null: <project_id>-tfstate."
  default     = null
}

variable "state_location" {
  type        = string
  description = "Location of the state bucket."
  default     = "EU"
}

variable "state_versions_kept" {
  type        = number
  description = "Noncurrent versions of each state object kept (older ones are deleted): how far back a broken state can be restored."
  default     = 20
}

variable "images" {
  type        = bool
  description = "Create the Artifact Registry repository the image workflow pushes to, and its publisher identity (deploy-containers.yml). One project holds them; others set false."
  default     = true
}

variable "image_repository" {
  type        = string
  description = "Artifact Registry repository id (the workflows' GCP_IMAGES_REPOSITORY)."
  default     = "ml"
}

variable "image_keep_count" {
  type        = number
  description = "Cleanup policy: the most recent versions of each image kept whatever else applies."
  default     = 10
}

variable "image_untagged_days" {
  type        = number
  description = "Cleanup policy: untagged versions older than this many days are deleted (a pinned digest of the recent versions stays, see image_keep_count)."
  default     = 14
}

variable "billing_account" {
  type        = string
  description = "The billing account of the environments' budgets (XXXXXX-XXXXXX-XXXXXX): the apply identities may manage its budgets, the plan identities read them. null: no grant (grant them by hand)."
  default     = null
}

variable "services" {
  type        = list(string)
  description = "APIs enabled in the project: what the platform deploys, and what this bootstrap and the workflows use."
  default = [
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "billingbudgets.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "eventarc.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "serviceusage.googleapis.com",
    "storage.googleapis.com",
    "sts.googleapis.com",
  ]
}

variable "labels" {
  type        = map(string)
  description = "Labels on the bucket and the repository."
  default     = {}
}
