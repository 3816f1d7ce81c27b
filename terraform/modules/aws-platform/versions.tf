terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
    # The functions' source archives (gcp-function, aws-ecr-rollout): declared here too, so that a
    # configuration of this module (a test's mock_provider "archive") reaches them.
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
  }
}
