terraform {
  required_version = ">= 1.6"

  # State in GCS, one prefix per environment and cloud. The bucket is given at init (not a real id
  # in the repo):
  #   terraform init -backend-config="bucket=<state bucket>"
  backend "gcs" {
    prefix = "mlops-events/dev"
  }

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 7.0"
    }
  }
}
