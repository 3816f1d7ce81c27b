# terraform test of the AWS root with one environment's values: the first plan and a mocked apply.
# Run once per environment, with its file (.ci/terraform-checks runs every terraform/environments/*.aws.tfvars):
#   terraform -chdir=terraform/environment/aws test -var-file=../../environments/<env>.aws.tfvars

mock_provider "aws" {
  source = "../../tests/mocks/aws"
}

variables {
  # The build's zips stand in for dist/ (tests/fixtures/bundles).
  bundles_dir = "../../tests/fixtures/bundles"
}

run "first_plan" {
  command = plan
}

run "mocked_apply" {
  assert {
    condition = length(output.ecr_rollout) == length([
      for f in yamldecode(file("../../../functions/manifest.yaml")).functions : f
      if f.platform == "aws-lambda" && !contains(var.disabled_functions, f.name)
    ])
    error_message = "Every aws-lambda manifest entry the environment does not disable is deployed."
  }
  assert {
    condition     = alltrue([for name in output.names : strcontains(name, var.env) || startswith(name, "ecr:")])
    error_message = "Every name but the repositories' carries the environment (the file's env), so environments can share an account."
  }
}
