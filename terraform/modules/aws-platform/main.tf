# The AWS side of one environment, driven by functions/manifest.yaml: one aws-ecr-rollout module per
# aws-lambda entry. A root and a state of its own (environment/aws), apart from the GCP side,
# so that neither plan needs the other cloud's credentials.

locals {
  manifest = yamldecode(file(var.manifest_path))
  # The manifest's entries less those this environment leaves out (var.disabled_functions).
  functions = [for f in local.manifest.functions : f if !contains(var.disabled_functions, f.name)]

  aws_functions = { for f in local.functions : f.name => f if f.platform == "aws-lambda" }

  tags = merge(var.tags, { app = "mlops-events", env = var.env })
}

module "ecr_rollout" {
  source   = "../aws-ecr-rollout"
  for_each = local.aws_functions

  env                  = var.env
  region               = var.region
  function             = each.value
  bundle_dir           = "${var.bundles_dir}/${each.value.name}"
  repositories         = var.repositories
  create_repositories  = var.create_repositories
  rollout_targets_yaml = var.rollout_targets_yaml
  log_retention_days   = var.log_retention_days
  reserved_concurrency = var.reserved_concurrency
  tags                 = local.tags

  permissions_boundary_arn = var.permissions_boundary_arn
}
