# terraform test of the AWS root with one environment's values: the first plan and a mocked apply.
# Run once per environment, with its file (.ci/terraform-checks runs every terraform/environments/*.aws.tfvars):
#   terraform -chdir=terraform/environment/aws test -var-file=../../environments/<env>.aws.tfvars

mock_provider "aws" {
  source = "../../tests/mocks/aws"
}

# The alarm topic's ARN is validated where the budget names it: a realistic one.
override_resource {
  target = module.aws_monitoring.aws_sns_topic.alarms
  values = {
    arn = "arn:aws:sns:eu-west-1:000000000000:mlops-events-alarms"
  }
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
    condition     = length(module.aws_platform.role_permissions_boundaries) > 0 && alltrue([for arn in values(module.aws_platform.role_permissions_boundaries) : arn == "arn:aws:iam::${var.aws_account_id}:policy/mlops-events-${var.env}-boundary"])
    error_message = "Every role the environment creates carries the bootstrap's permissions boundary for this environment and account."
  }
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

# The environment's alarms (modules/aws-monitoring): every one with a severity, its runbook, the topic.
run "alarms" {
  assert {
    condition     = length(output.alarms) == 5 * length(output.ecr_rollout) && alltrue([for name, a in output.alarms : contains(["p0", "p1", "p2"], a.severity) && strcontains(a.description, "/docs/runbooks/${a.runbook}.md") && toset(a.actions) == toset([output.alarm_topic_arn])])
    error_message = "Five alarms per Lambda, each with a severity and its runbook, to the alarm topic."
  }
  assert {
    condition     = alltrue([for name, a in output.alarms : strcontains(name, var.env)])
    error_message = "Alarm names carry the environment (environments may share an account)."
  }
}
