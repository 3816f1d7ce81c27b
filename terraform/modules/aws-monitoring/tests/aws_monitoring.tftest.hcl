# terraform test: the AWS alarms and budget, planned with the real AWS provider's schema and mock-applied.

mock_provider "aws" {
  source = "../../tests/mocks/aws"
}

# The topic's ARN is validated where the budget names it: a realistic one.
override_resource {
  target = aws_sns_topic.alarms
  values = {
    arn = "arn:aws:sns:eu-west-1:000000000000:mlops-events-alarms-test"
  }
}

variables {
  env = "test"
  lambdas = {
    ecr_rollout = {
      lambda_function_name   = "mlops-events-ecr-rollout-test"
      dead_letter_queue_url  = "https://sqs.eu-west-1.amazonaws.com/000000000000/mlops-events-ecr-rollout-dead-letter-test"
      idempotency_table_name = "mlops-events-idempotency-test"
    }
  }
  alarm_email = "oncall@example.com"
  budget      = { amount = 150 }
}

run "first_plan" {
  command = plan

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this) == 4 && length(aws_cloudwatch_metric_alarm.dynamodb_throttles) == 1
    error_message = "Errors, throttles, dead letters, their age, DynamoDB throttles."
  }
}

run "mocked_apply" {
  assert {
    condition     = alltrue([for name, a in output.alarms : contains(["p0", "p1", "p2"], a.severity) && strcontains(a.description, "/docs/runbooks/${a.runbook}.md") && toset(a.actions) == toset([output.topic_arn])])
    error_message = "Every alarm has a severity, links its runbook and notifies the topic."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.this["ecr_rollout-dead-letters"].metric_name == "ApproximateNumberOfMessagesVisible" && aws_cloudwatch_metric_alarm.this["ecr_rollout-dead-letters"].threshold == 0 && aws_cloudwatch_metric_alarm.this["ecr_rollout-dead-letters"].dimensions.QueueName == "mlops-events-ecr-rollout-dead-letter-test"
    error_message = "Any message in the on-failure queue alarms."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.this["ecr_rollout-errors"].dimensions.FunctionName == "mlops-events-ecr-rollout-test" && aws_cloudwatch_metric_alarm.this["ecr_rollout-throttles"].metric_name == "Throttles"
    error_message = "The Lambda's errors and throttles."
  }
  assert {
    condition     = toset(output.budget_notifications) == toset(["ACTUAL:80", "ACTUAL:100", "FORECASTED:80", "FORECASTED:100"]) && aws_budgets_budget.monthly[0].limit_amount == "150.00"
    error_message = "80% and 100%, actual and forecasted."
  }
  assert {
    condition     = aws_sns_topic.alarms.kms_master_key_id == aws_kms_key.alarms.arn && aws_kms_key.alarms.enable_key_rotation
    error_message = "The topic is encrypted with a rotated key of its own."
  }
  assert {
    condition     = aws_sns_topic_subscription.email[0].protocol == "email" && aws_sns_topic_subscription.email[0].endpoint == "oncall@example.com"
    error_message = "The email subscription."
  }
}

run "no_budget_no_email" {
  variables {
    budget      = null
    alarm_email = null
  }
  assert {
    condition     = length(aws_budgets_budget.monthly) == 0 && length(aws_sns_topic_subscription.email) == 0 && length(output.alarms) == 5
    error_message = "Alarms without budget or email."
  }
}
