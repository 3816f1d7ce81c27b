# Test fixture (terraform test, run "two_environments_in_one_account"): dev and staging of the AWS
# side planned together against one account, as when they share it. dev creates the repositories,
# staging follows them.

variable "manifest_path" {
  type        = string
  description = "functions/manifest.yaml."
}

variable "rollout_targets_yaml" {
  type        = string
  description = "The rollout targets document."
}

module "dev" {
  source = "../.."

  env    = "dev"
  region = "eu-west-1"

  permissions_boundary_arn = "arn:aws:iam::111111111111:policy/mlops-events-dev-boundary"
  manifest_path            = var.manifest_path
  bundles_dir              = "../../tests/fixtures/bundles"
  repositories             = ["ml/inference", "ml/batch-predict"]
  rollout_targets_yaml     = var.rollout_targets_yaml
}

module "staging" {
  source = "../.."

  env    = "staging"
  region = "eu-west-1"

  permissions_boundary_arn = "arn:aws:iam::111111111111:policy/mlops-events-staging-boundary"
  manifest_path            = var.manifest_path
  bundles_dir              = "../../tests/fixtures/bundles"
  repositories             = ["ml/inference", "ml/batch-predict"]
  create_repositories      = false
  rollout_targets_yaml     = var.rollout_targets_yaml
}

output "dev_names" {
  description = "Names dev takes in the account."
  value       = module.dev.names
}

output "staging_names" {
  description = "Names staging takes in the account."
  value       = module.staging.names
}
