output "state_bucket" {
  description = "The bucket of the environments' states: TF_STATE_BUCKET, and `-backend-config=\"bucket=...\"` by hand."
  value       = google_storage_bucket.state.name
}

output "workload_identity_provider" {
  description = "The provider GitHub's tokens are exchanged at: GCP_WIF_PROVIDER."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "service_accounts" {
  description = "The Terraform identities by GitHub environment (<env>: apply, <env>-plan: plan)."
  value       = local.emails
}

output "github_variables" {
  description = "What to set in GitHub (Settings > Secrets and variables > Actions > Variables; nothing is a secret): `repository` as repository variables, `environments` per GitHub environment."
  value = {
    repository = merge(
      {
        GCP_WIF_PROVIDER = google_iam_workload_identity_pool_provider.github.name
        GCP_REGION       = var.region
      },
      var.images ? {
        GCP_IMAGES_PROJECT_ID      = var.project_id
        GCP_IMAGES_REPOSITORY      = google_artifact_registry_repository.images[0].repository_id
        GCP_IMAGES_SERVICE_ACCOUNT = google_service_account.images[0].email
      } : {},
    )
    # An environment variable overrides the repository's of the same name: GCP_WIF_PROVIDER is repeated
    # so that environments in different projects (each with its own pool) work too.
    environments = {
      for key, identity in local.identities : identity.github_environment => {
        GCP_PROJECT_ID      = var.project_id
        GCP_SERVICE_ACCOUNT = local.emails[key]
        GCP_WIF_PROVIDER    = google_iam_workload_identity_pool_provider.github.name
        TF_STATE_BUCKET     = google_storage_bucket.state.name
      }
    }
  }
}
