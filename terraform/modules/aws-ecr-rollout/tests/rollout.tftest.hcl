# terraform test: the ecr_rollout Lambda and its stores, planned by the real AWS provider's schema
# (5.100, from the plugin mirror) and mock-applied (mock_provider: no account, no credentials).

mock_provider "aws" {
  source = "../../tests/mocks/aws"
}

variables {
  env          = "dev"
  region       = "eu-west-1"
  bundle_dir   = "../../tests/fixtures/bundles/ecr_rollout"
  repositories = ["ml/inference", "ml/batch-predict"]
  function = {
    name        = "ecr_rollout"
    platform    = "aws-lambda"
    description = "Roll k3s Deployments on ECR pushes."
    runtime     = "python3.11"
    entry_point = "handler"
    timeout_s   = 600
    memory      = "512Mi"
    env = {
      MLOPS_EVENTS_PROFILE                   = "cloud"
      MLOPS_EVENTS_ROLLOUT_TARGETS_PARAMETER = "/mlops-events/rollout-targets"
      MLOPS_EVENTS_IDEMPOTENCY_TABLE         = "mlops-events-idempotency"
    }
    secrets = [{ name = "rollout-kubeconfig", env = "MLOPS_EVENTS_KUBECONFIG_SECRET" }]
    retry   = { policy = "lambda_async", max_attempts = 3, max_event_age_s = 3600, dead_letter_topic = "ecr-rollout-dead-letter" }
    trigger = {
      kind    = "eventbridge"
      pattern = { source = ["aws.ecr"], "detail-type" = ["ECR Image Action"], detail = { "action-type" = ["PUSH"], result = ["SUCCESS"] } }
    }
  }
  rollout_targets_yaml = "targets: []\n"

  permissions_boundary_arn = "arn:aws:iam::111111111111:policy/mlops-events-dev-boundary"
  log_retention_days       = 30
}

run "defaults" {
  assert {
    condition     = aws_dynamodb_table.idempotency.name == "mlops-events-idempotency-dev" && aws_ssm_parameter.rollout_targets.name == "/mlops-events/rollout-targets/dev"
    error_message = "The table and the parameter carry the environment (two environments can share an account)."
  }
  assert {
    condition     = aws_lambda_function.this.environment[0].variables["MLOPS_EVENTS_IDEMPOTENCY_TABLE"] == "mlops-events-idempotency-dev" && aws_lambda_function.this.environment[0].variables["MLOPS_EVENTS_ROLLOUT_TARGETS_PARAMETER"] == "/mlops-events/rollout-targets/dev"
    error_message = "The function is told the names deployed."
  }
  assert {
    condition     = aws_lambda_function.this.reserved_concurrent_executions == null
    error_message = "No reserved concurrency by default (an account at the minimum quota refuses any)."
  }
  assert {
    condition     = aws_lambda_function.this.function_name == "ecr-rollout-dev" && aws_sqs_queue.dead_letter.name == "ecr-rollout-dead-letter-dev"
    error_message = "Names carry the environment."
  }
  assert {
    condition     = aws_lambda_function.this.filename == "../../tests/fixtures/bundles/ecr_rollout.zip" && aws_lambda_function.this.source_code_hash == filebase64sha256("../../tests/fixtures/bundles/ecr_rollout.zip")
    error_message = "The zip mlops-events build wrote is what deploys, hashed as it is; Terraform writes none."
  }
  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.this.event_pattern).detail["repository-name"] == ["ml/inference", "ml/batch-predict"]
    error_message = "The rule matches the followed repositories only."
  }
  # One lifecycle rule per release pattern: a rule's tagPatternList is AND, so one rule holding
  # both patterns would match no release and leave them to the catch-all.
  assert {
    condition = [for rule in jsondecode(aws_ecr_lifecycle_policy.this["ml/inference"].policy).rules : {
      priority = rule.rulePriority, status = rule.selection.tagStatus, patterns = try(rule.selection.tagPatternList, [])
      }] == [
      { priority = 1, status = "tagged", patterns = ["*.*.*"] },
      { priority = 2, status = "tagged", patterns = ["stable"] },
      { priority = 3, status = "any", patterns = [] },
    ]
    error_message = "Releases (*.*.*, stable) each have a rule ahead of the catch-all."
  }
}

run "the_role_under_the_permissions_boundary" {
  command = plan

  assert {
    condition     = aws_iam_role.this.permissions_boundary == "arn:aws:iam::111111111111:policy/mlops-events-dev-boundary"
    error_message = "The function's role carries the environment's permissions boundary (the apply role may create it only so)."
  }
  assert {
    condition     = output.role_permissions_boundaries == { (aws_iam_role.this.name) = "arn:aws:iam::111111111111:policy/mlops-events-dev-boundary" }
    error_message = "Every role of the module is listed with its boundary."
  }
}

run "a_role_without_a_boundary_is_refused" {
  command = plan

  variables {
    permissions_boundary_arn = "mlops-events-dev-boundary"
  }
  expect_failures = [var.permissions_boundary_arn]
}

run "reserved_concurrency_when_asked" {
  command = plan

  variables {
    reserved_concurrency = 5
  }

  assert {
    condition     = aws_lambda_function.this.reserved_concurrent_executions == 5
    error_message = "A reservation is passed through when set."
  }
}

run "following_repositories_another_environment_creates" {
  variables {
    env                 = "staging"
    create_repositories = false
  }

  override_data {
    target = data.aws_ecr_repository.existing
    values = {
      repository_url = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/ml/inference"
    }
  }

  assert {
    condition     = length(aws_ecr_repository.this) == 0 && length(aws_ecr_lifecycle_policy.this) == 0
    error_message = "No repository (nor its lifecycle policy) is created by an environment that follows them."
  }
  assert {
    condition     = length(output.repository_urls) == 2
    error_message = "The followed repositories are looked up."
  }
}
