terraform {
  required_version = ">= 1.6"

  # No backend: run once per project, before the state bucket exists, with a local state (ignored by
  # git: terraform/.gitignore). Once applied, keep that state in the bucket it made (README, Bootstrap):
  # add `backend "gcs" {}` here and run
  #   terraform init -migrate-state -backend-config="bucket=<state_bucket>" -backend-config="prefix=mlops-events/bootstrap"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 7.0"
    }
  }
}
