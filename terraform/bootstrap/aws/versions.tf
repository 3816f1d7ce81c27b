terraform {
  required_version = ">= 1.6"

  # No backend: run once per AWS account, with a local state (ignored by git: terraform/.gitignore);
  # keep it, or move it into the GCP bootstrap's state bucket (README, Bootstrap): add
  # `backend "gcs" {}` here and run
  #   terraform init -migrate-state -backend-config="bucket=<state_bucket>" -backend-config="prefix=mlops-events/bootstrap/aws"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
  }
}
