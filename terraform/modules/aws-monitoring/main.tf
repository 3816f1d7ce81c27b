# CloudWatch alarms on the AWS side of one environment (the rollout Lambda, its on-failure queue, its
# idempotency table) and an account budget, all to one encrypted SNS topic. Every alarm is tagged with
# its severity (p0 | p1 | p2) and runbook (docs/runbooks/<runbook>.md, linked from its description).

data "aws_caller_identity" "this" {}

locals {
  runbook = "${trimsuffix(var.runbook_base_url, "/")}/"
  name    = "mlops-events-alarms-${var.env}"

  # One entry per alarm: lambda x kind. Severity and runbook travel as tags and in the description.
  alarms = merge(
    { for name, l in var.lambdas : "${name}-errors" => {
      lambda      = name, kind = "errors", severity = "p1", runbook = "aws-lambda-errors",
      description = "${l.lambda_function_name}: invocations failed (each is retried, then recorded in the on-failure queue)."
    } },
    { for name, l in var.lambdas : "${name}-throttles" => {
      lambda      = name, kind = "throttles", severity = "p2", runbook = "aws-lambda-throttles",
      description = "${l.lambda_function_name}: invocations throttled (reserved concurrency or the account's limit)."
    } },
    { for name, l in var.lambdas : "${name}-dead-letters" => {
      lambda      = name, kind = "dead_letters", severity = "p1", runbook = "dead-letters-waiting",
      description = "${element(split("/", l.dead_letter_queue_url), 4)}: an ECR push ran out of attempts and waits in the on-failure queue."
    } },
    { for name, l in var.lambdas : "${name}-dead-letters-expiring" => {
      lambda      = name, kind = "dead_letters_age", severity = "p0", runbook = "dead-letters-expiring",
      description = "${element(split("/", l.dead_letter_queue_url), 4)}: an on-failure record is ${var.dead_letter_age_s / 86400} days old; SQS drops it at 14."
    } },
    { for name, l in var.lambdas : "${name}-dynamodb-throttles" => {
      lambda      = name, kind = "dynamodb_throttles", severity = "p2", runbook = "aws-dynamodb-throttles",
      description = "${l.idempotency_table_name}: reads or writes throttled (idempotency claims retry, then the invocation fails)."
    } },
  )

  metric = {
    errors             = { namespace = "AWS/Lambda", metric = "Errors", stat = "Sum", threshold = 0 }
    throttles          = { namespace = "AWS/Lambda", metric = "Throttles", stat = "Sum", threshold = 0 }
    dead_letters       = { namespace = "AWS/SQS", metric = "ApproximateNumberOfMessagesVisible", stat = "Maximum", threshold = 0 }
    dead_letters_age   = { namespace = "AWS/SQS", metric = "ApproximateAgeOfOldestMessage", stat = "Maximum", threshold = var.dead_letter_age_s }
    dynamodb_throttles = { namespace = "AWS/DynamoDB", metric = "", stat = "Sum", threshold = 0 }
  }
}

# -- the topic ---------------------------------------------------------------------------------------
# A key of its own: CloudWatch and AWS Budgets publish to an encrypted topic only with a customer
# managed key whose policy lets them use it (the AWS managed alias/aws/sns does not).
data "aws_iam_policy_document" "key" {
  # checkov:skip=CKV_AWS_109:A key policy's "*" resource is this key; the root statement is AWS's default, delegating the key's administration to IAM policies in this account.
  # checkov:skip=CKV_AWS_111:A key policy's "*" resource is this key; the root statement is AWS's default, delegating the key's use to IAM policies in this account.
  # checkov:skip=CKV_AWS_356:A key policy's "*" resource is this key, not every resource: key policies name no other.
  statement {
    sid       = "Account"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.this.account_id}:root"]
    }
  }
  statement {
    sid       = "PublishersEncrypt"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "budgets.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "alarms" {
  description             = "mlops-events alarms topic (${var.env})"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "alarms" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.alarms.key_id
}

resource "aws_sns_topic" "alarms" {
  name              = local.name
  kms_master_key_id = aws_kms_key.alarms.arn
  tags              = var.tags
}

data "aws_iam_policy_document" "topic" {
  statement {
    sid       = "CloudWatchAlarms"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.this.account_id]
    }
  }
  statement {
    sid       = "Budgets"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["budgets.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.this.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.topic.json
}

resource "aws_sns_topic_subscription" "email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# -- alarms ------------------------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = { for key, a in local.alarms : key => a if a.kind != "dynamodb_throttles" }

  alarm_name          = "mlops-events-${var.env}-${each.key}"
  alarm_description   = "[${upper(each.value.severity)}] ${each.value.description} Runbook: ${local.runbook}${each.value.runbook}.md"
  namespace           = local.metric[each.value.kind].namespace
  metric_name         = local.metric[each.value.kind].metric
  statistic           = local.metric[each.value.kind].stat
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.metric[each.value.kind].threshold
  treat_missing_data  = "notBreaching"
  dimensions = startswith(each.value.kind, "dead_letters") ? {
    QueueName = element(split("/", var.lambdas[each.value.lambda].dead_letter_queue_url), 4)
  } : { FunctionName = var.lambdas[each.value.lambda].lambda_function_name }
  alarm_actions = [aws_sns_topic.alarms.arn]
  ok_actions    = [aws_sns_topic.alarms.arn]
  tags          = merge(var.tags, { severity = each.value.severity, runbook = each.value.runbook })
}

# DynamoDB reports throttles per kind: reads and writes summed.
resource "aws_cloudwatch_metric_alarm" "dynamodb_throttles" {
  for_each = { for key, a in local.alarms : key => a if a.kind == "dynamodb_throttles" }

  alarm_name          = "mlops-events-${var.env}-${each.key}"
  alarm_description   = "[${upper(each.value.severity)}] ${each.value.description} Runbook: ${local.runbook}${each.value.runbook}.md"
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = merge(var.tags, { severity = each.value.severity, runbook = each.value.runbook })

  metric_query {
    id          = "throttles"
    expression  = "reads + writes"
    label       = "throttled requests"
    return_data = true
  }
  dynamic "metric_query" {
    for_each = { reads = "ReadThrottleEvents", writes = "WriteThrottleEvents" }
    content {
      id = metric_query.key
      metric {
        namespace   = "AWS/DynamoDB"
        metric_name = metric_query.value
        stat        = "Sum"
        period      = 300
        dimensions  = { TableName = var.lambdas[each.value.lambda].idempotency_table_name }
      }
    }
  }
}

# -- budget ------------------------------------------------------------------------------------------
resource "aws_budgets_budget" "monthly" {
  count = var.budget == null ? 0 : 1

  name         = "mlops-events-${var.env}"
  budget_type  = "COST"
  limit_amount = format("%.2f", var.budget.amount)
  limit_unit   = var.budget.currency
  time_unit    = "MONTHLY"

  dynamic "notification" {
    for_each = [for pair in setproduct(["ACTUAL", "FORECASTED"], [80, 100]) : { type = pair[0], percent = pair[1] }]
    content {
      comparison_operator        = "GREATER_THAN"
      threshold                  = notification.value.percent
      threshold_type             = "PERCENTAGE"
      notification_type          = notification.value.type
      subscriber_sns_topic_arns  = [aws_sns_topic.alarms.arn]
      subscriber_email_addresses = var.budget.email_addresses
    }
  }

  tags = merge(var.tags, { severity = "p1", runbook = "aws-budget" })
}
