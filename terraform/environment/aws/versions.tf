terraform {
  required_version = ">= 1.6"

  # State in GCS beside the GCP side's, under its own prefix (mlops-events/<env>/aws), given at init
  # by the environment's backend file; the bucket is not a real id in the repo:
  #   terraform init -backend-config=../../environments/<env>.aws.tfbackend -backend-config="bucket=<state bucket>"
  backend "gcs" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
  }
}
