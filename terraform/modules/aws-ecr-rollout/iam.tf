# The function's own role, allowed exactly what its code calls, each on this module's resources only:
#   logs       its log group (the group exists, so no logs:CreateLogGroup)
#   xray       trace segments (Tracer; these actions take no resource)
#   ssm        the targets parameter (shared/adapters/aws_parameters.py: GetParameter)
#   secrets    its secrets (GetSecretValue: kubeconfig, Slack webhook)
#   dynamodb   the idempotency table (powertools: GetItem, PutItem conditional, UpdateItem, DeleteItem)
#   sqs        the dead-letter queue (Lambda sends on-failure records with the function's role)
#   kms        the key, only through the services above and Lambda (environment variables)
# Metrics need no cloudwatch:PutMetricData: powertools' Metrics prints EMF documents to stdout and
# CloudWatch Logs extracts them. The Lambda never calls ECR: the event names the image, and the k3s
# nodes pull it with their own credentials.

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = substr("mlops-events-${local.function_name}", 0, 64)
  description        = "${local.fn.name} (${var.env}): roll k3s Deployments on ECR pushes."
  assume_role_policy = data.aws_iam_policy_document.assume.json
  # The environment's boundary (terraform/bootstrap/aws): the apply role may create and write this
  # role only with it, and whatever the policy below says, the role can never do more.
  permissions_boundary = var.permissions_boundary_arn
  tags                 = local.tags
}

data "aws_iam_policy_document" "function" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:*"]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  statement {
    sid       = "RolloutTargets"
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.rollout_targets.arn]
  }

  # A statement without resources is invalid IAM: none at all when the manifest names no secret.
  dynamic "statement" {
    for_each = length(local.secrets) == 0 ? [] : [1]
    content {
      sid       = "Secrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [for secret in aws_secretsmanager_secret.this : secret.arn]
    }
  }

  statement {
    sid       = "Idempotency"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.idempotency.arn]
  }

  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]
  }

  # Decrypt: secrets, table reads, environment variables; GenerateDataKey/Encrypt: table writes and
  # messages to the encrypted queue. Only when the call comes through one of these services.
  statement {
    sid       = "Key"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [for service in ["dynamodb", "secretsmanager", "sqs", "lambda"] :
        "${service}.${local.region}.amazonaws.com"
      ]
    }
  }

  # Inside a VPC, Lambda attaches network interfaces with the function's role. These EC2 actions
  # take no resource-level permissions (Describe*) or act on interfaces that do not exist yet.
  dynamic "statement" {
    for_each = var.vpc_config == null ? [] : [var.vpc_config]
    content {
      sid = "VpcNetworkInterfaces"
      actions = [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
      ]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "function"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.function.json
}

# The key's policy: the account administers it through IAM (AWS's default statement; without it
# the key would be unmanageable), CloudWatch Logs may use it for this function's log group only,
# EventBridge for this rule's dead letters only (the queue is encrypted with it).
data "aws_iam_policy_document" "key" {
  # checkov:skip=CKV_AWS_109:A key policy's "*" resource is this key; the root statement is AWS's default, delegating the key's administration to IAM policies in this account.
  # checkov:skip=CKV_AWS_111:A key policy's "*" resource is this key; the root statement is AWS's default, delegating the key's use to IAM policies in this account (the function's role: through four services only).
  # checkov:skip=CKV_AWS_356:A key policy's "*" resource is this key, not every resource: key policies name no other.
  statement {
    sid       = "AccountAdministersThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "LogsForThisFunction"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = [local.log_group_arn]
    }
  }

  statement {
    sid       = "EventBridgeDeadLetters"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.rule_arn]
    }
  }
}

# The rule's target dead letters: EventBridge sends with its service principal, for this rule only.
# (The function's on-failure records are sent with its role: see Key and DeadLetters above.)
data "aws_iam_policy_document" "dead_letter" {
  statement {
    sid       = "EventBridgeRuleDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.rule_arn]
    }
  }
}
