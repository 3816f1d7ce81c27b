# The dev environment: providers and the platform module with this environment's values.

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = { app = "mlops-events", env = "dev" }
  }
}

locals {
  repository_root = "${path.root}/../../.."
}

module "platform" {
  source = "../../modules/platform"

  project_id         = var.project_id
  region             = var.region
  env                = "dev"
  manifest_path      = "${local.repository_root}/functions/manifest.yaml"
  schemas_dir        = "${local.repository_root}/shared/schemas"
  bundles_dir        = coalesce(var.bundles_dir, "${local.repository_root}/dist")
  bigquery_location  = var.bigquery_location
  firestore_location = var.firestore_location
  kms_key_name       = var.kms_key_name
  schedule_payloads  = var.schedule_payloads
  budget             = var.budget
  inference          = var.inference
  batch_job          = var.batch_job
  labels             = var.labels

  aws = {
    repositories         = var.ecr_repositories
    rollout_targets_yaml = coalesce(var.rollout_targets_yaml, file("${local.repository_root}/events/ecr/targets.yaml"))
    log_retention_days   = var.log_retention_days
  }
}
