output "oidc_provider_arn" {
  description = "The account's GitHub OIDC provider."
  value       = local.oidc_provider_arn
}

output "roles" {
  description = "The Terraform roles by GitHub environment (<env>: apply, <env>-plan: plan)."
  value       = { for key, role in aws_iam_role.terraform : local.identities[key].github_environment => role.arn }
}

output "github_variables" {
  description = "What to set in GitHub (Settings > Secrets and variables > Actions > Variables; nothing is a secret): `repository` as repository variables, `environments` per GitHub environment."
  value = {
    repository = merge(
      { AWS_REGION = var.aws_region },
      var.images ? { AWS_IMAGES_ROLE_ARN = aws_iam_role.images[0].arn } : {},
    )
    environments = {
      for key, identity in local.identities : identity.github_environment => {
        AWS_ACCOUNT_ID = var.aws_account_id
        AWS_ROLE_ARN   = aws_iam_role.terraform[key].arn
      }
    }
  }
}

output "permissions_boundaries" {
  description = "The permissions boundary every role of an environment's platform carries, by environment (mlops-events-<env>-boundary): terraform/environment/aws derives the same ARN from its account and env (var.permissions_boundary_policy)."
  value       = { for env, policy in aws_iam_policy.boundary : env => policy.arn }
}
