# terraform test: the AWS side of an environment from the real manifest, planned with the real AWS
# provider's schema (5.100, plugin mirror) and mock-applied; and two environments in one account.

mock_provider "aws" {
  source = "../../tests/mocks/aws"
}
variables {
  permissions_boundary_arn = "arn:aws:iam::111111111111:policy/mlops-events-dev-boundary"

  region               = "eu-west-1"
  manifest_path        = "../../../functions/manifest.yaml"
  bundles_dir          = "../../tests/fixtures/bundles"
  repositories         = ["ml/inference", "ml/batch-predict"]
  rollout_targets_yaml = "targets: []\n"
}

run "first_plan" {
  command = plan

  variables {
    env = "dev"
  }

  assert {
    condition     = keys(module.ecr_rollout) == ["ecr_rollout"]
    error_message = "One rollout module per aws-lambda manifest entry."
  }
}

run "defaults_applied" {
  variables {
    env = "dev"
  }

  assert {
    condition     = output.ecr_rollout["ecr_rollout"].idempotency_table_name == "mlops-events-idempotency-dev"
    error_message = "The idempotency table carries the environment."
  }
  assert {
    condition     = alltrue([for name in output.names : strcontains(name, "dev") if !startswith(name, "ecr:")])
    error_message = "Every name but the repositories' carries the environment."
  }
  assert {
    condition     = length(output.role_permissions_boundaries) == length(module.ecr_rollout) && alltrue([for arn in values(output.role_permissions_boundaries) : arn == "arn:aws:iam::111111111111:policy/mlops-events-dev-boundary"])
    error_message = "Every role of the environment carries its permissions boundary."
  }
}

run "ecr_rollout_left_out" {
  command = plan

  variables {
    env                = "dev"
    disabled_functions = ["ecr_rollout"]
  }

  assert {
    condition     = length(module.ecr_rollout) == 0
    error_message = "A disabled manifest entry is not deployed."
  }
}

run "two_environments_in_one_account" {
  module {
    source = "./tests/two-environments"
  }

  assert {
    condition     = length(setintersection(toset(output.dev_names), toset(output.staging_names))) == 0
    error_message = "dev and staging take no name in common in one account (no \"already exists\")."
  }
  assert {
    condition     = length([for name in output.dev_names : name if startswith(name, "ecr:")]) == 2 && length([for name in output.staging_names : name if startswith(name, "ecr:")]) == 0
    error_message = "One environment creates the repositories, the other follows them."
  }
}
