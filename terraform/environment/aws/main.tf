# The AWS root of every environment: the manifest's aws-lambda entries (ecr_rollout), in a state of
# its own. What differs per environment is in terraform/environments/<env>.aws.tfvars (values) and
# <env>.aws.tfbackend (where its state lives). The provider is pinned to the environment's account:
# a plan with another account's credentials fails before it reads anything.

provider "aws" {
  region              = var.aws_region
  allowed_account_ids = [var.aws_account_id]

  default_tags {
    tags = { app = "mlops-events", env = var.env }
  }
}

data "aws_partition" "current" {}

locals {
  repository_root = "${path.root}/../../.."
  # The permissions boundary terraform/bootstrap/aws made for this environment: every role created
  # here carries it (the apply role may create roles only with it).
  permissions_boundary_arn = "arn:${data.aws_partition.current.partition}:iam::${var.aws_account_id}:policy/${coalesce(var.permissions_boundary_policy, "mlops-events-${var.env}-boundary")}"
}

module "aws_platform" {
  source = "../../modules/aws-platform"

  env                  = var.env
  region               = var.aws_region
  manifest_path        = "${local.repository_root}/functions/manifest.yaml"
  bundles_dir          = coalesce(var.bundles_dir, "${local.repository_root}/dist")
  disabled_functions   = var.disabled_functions
  repositories         = var.ecr_repositories
  create_repositories  = var.create_repositories
  rollout_targets_yaml = coalesce(var.rollout_targets_yaml, file("${local.repository_root}/events/ecr/targets.yaml"))
  log_retention_days   = var.log_retention_days
  reserved_concurrency = var.reserved_concurrency

  permissions_boundary_arn = local.permissions_boundary_arn
}

# CloudWatch alarms (the rollout Lambda, its on-failure queue, its idempotency table) and the account's
# monthly budget, to one encrypted SNS topic (issue 18); runbooks in docs/runbooks/.
module "aws_monitoring" {
  source = "../../modules/aws-monitoring"

  env         = var.env
  lambdas     = module.aws_platform.ecr_rollout
  alarm_email = var.alarm_email
  budget      = var.aws_budget
}
