# terraform test of an environment's AWS root (environments/<env>/aws), with its terraform.tfvars:
# the first plan and a mocked apply. Shared by dev, staging and prod:
#   terraform -chdir=terraform/environments/<env>/aws test   (environments/<env>/aws/tests links here)

mock_provider "aws" {
  source = "../../../tests/mocks/aws"
}

variables {
  # The build's zips stand in for dist/ (tests/fixtures/bundles).
  bundles_dir = "../../../tests/fixtures/bundles"
}

run "first_plan" {
  command = plan
}

run "mocked_apply" {
  assert {
    condition     = length(output.ecr_rollout) == 1
    error_message = "The manifest's aws-lambda entry is deployed."
  }
  assert {
    condition     = alltrue([for name in output.names : strcontains(name, output.ecr_rollout["ecr_rollout"].lambda_function_name) || strcontains(name, trimprefix(output.ecr_rollout["ecr_rollout"].lambda_function_name, "ecr-rollout-")) || startswith(name, "ecr:")])
    error_message = "Every name but the repositories' carries the environment."
  }
}
