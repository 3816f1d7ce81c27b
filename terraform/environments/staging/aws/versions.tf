terraform {
  required_version = ">= 1.6"

  # State in GCS beside the GCP side's, under its own prefix (an S3 backend serves as well). The
  # bucket is given at init: terraform init -backend-config="bucket=<state bucket>"
  backend "gcs" {
    prefix = "mlops-events/staging/aws"
  }

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
  }
}
