terraform {
  required_version = ">= 1.6"

  # State in GCS, one prefix per environment and cloud (mlops-events/<env>), given at init by the
  # environment's backend file; the bucket is not a real id in the repo:
  #   terraform init -backend-config=../../environments/<env>.gcp.tfbackend -backend-config="bucket=<state bucket>"
  backend "gcs" {}

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 7.0"
    }
  }
}
