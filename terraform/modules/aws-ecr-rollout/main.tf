# The AWS side of one manifest entry (ecr_rollout): an ECR push -> EventBridge rule -> Lambda (async,
# retried, failures to an SQS queue), with the stores the Lambda reads at run time: the idempotency
# table (DynamoDB), the rollout targets (SSM), the kubeconfig and Slack webhook (Secrets Manager, no
# values), all encrypted with one KMS key of this module. IAM is in iam.tf.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  fn         = var.function
  bundle_zip = "${var.bundle_dir}.zip"

  partition = data.aws_partition.current.partition
  # The caller's region (the provider's): data.aws_region's `name` is deprecated in the AWS provider
  # 6.x and its replacement `region` is absent from 5.x, so the root passes the region it configured.
  region     = var.region
  account_id = data.aws_caller_identity.current.account_id

  # Every name in the account carries the env, so environments can share an account. The table and
  # parameter the code reads are the manifest's names (its local default) with the env added, unless
  # the manifest already places an {env} in them; the function is told the names deployed.
  function_name = "${replace(local.fn.name, "_", "-")}-${var.env}"
  table_base    = lookup(local.fn.env, "MLOPS_EVENTS_IDEMPOTENCY_TABLE", "mlops-events-idempotency")
  param_base    = lookup(local.fn.env, "MLOPS_EVENTS_ROLLOUT_TARGETS_PARAMETER", "/mlops-events/rollout-targets")
  table_name    = strcontains(local.table_base, "{env}") ? replace(local.table_base, "{env}", var.env) : "${local.table_base}-${var.env}"
  parameter     = strcontains(local.param_base, "{env}") ? replace(local.param_base, "{env}", var.env) : "${local.param_base}/${var.env}"
  env_values = merge(local.fn.env, {
    MLOPS_EVENTS_IDEMPOTENCY_TABLE         = local.table_name
    MLOPS_EVENTS_ROLLOUT_TARGETS_PARAMETER = local.parameter
  })
  queue_name = "${local.fn.retry.dead_letter_topic}-${var.env}"

  # Secrets Manager secrets, one per manifest secret; the function's env names each by ARN.
  secrets = { for secret in local.fn.secrets : secret.name => secret }
  kubeconfig_secret = one([
    for secret in values(local.secrets) : secret.name if secret.env == "MLOPS_EVENTS_KUBECONFIG_SECRET"
  ])

  # The manifest's values, then each secret's ARN (never its value: shared/adapters/aws_parameters.py
  # reads the current version at run time, cached 5 minutes, so a rotation needs no redeploy).
  environment = merge(
    local.env_values,
    { for name, secret in local.secrets : secret.env => aws_secretsmanager_secret.this[name].arn },
  )

  # "512Mi" -> 512, "1Gi" -> 1024 (Lambda's memory is in MB; Kubernetes-style sizes in the manifest).
  memory_parts = regex("^([0-9]+)(Mi|Gi)$", local.fn.memory)
  memory_mb    = tonumber(local.memory_parts[0]) * (local.memory_parts[1] == "Gi" ? 1024 : 1)

  # max_attempts counts the first invocation; Lambda's async retries are 0..2 on top of it.
  retry_attempts = min(2, max(0, local.fn.retry.max_attempts - 1))
  # Lambda and EventBridge both keep an event 60 s to 6 h.
  max_event_age_s = min(21600, max(60, local.fn.retry.max_event_age_s))

  # The manifest's pattern, narrowed to the repositories this deployment follows.
  event_pattern = merge(local.fn.trigger.pattern, {
    detail = merge(try(local.fn.trigger.pattern.detail, {}), { "repository-name" = var.repositories })
  })

  # One rule per release pattern: the patterns of one rule's tagPatternList must ALL match a tag (AND),
  # so ["*.*.*", "stable"] in one rule would select no release and leave them to the catch-all rule.
  # An image a rule selects is never expired by a rule of lower priority, so releases stay protected.
  release_rules = [
    for i, pattern in var.release_tag_patterns : {
      rulePriority = i + 1
      description  = "Keep the ${var.release_images_to_keep} most recent images tagged ${pattern}"
      selection = {
        tagStatus      = "tagged"
        tagPatternList = [pattern]
        countType      = "imageCountMoreThan"
        countNumber    = var.release_images_to_keep
      }
      action = { type = "expire" }
    }
  ]

  # Known before the resources exist, so the key policy can name them without a cycle.
  log_group_name = "/aws/lambda/${local.function_name}"
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"
  rule_arn       = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.function_name}"

  tags = merge(var.tags, { function = local.fn.name })

  repository_urls = var.create_repositories ? (
    { for name, repo in aws_ecr_repository.this : name => repo.repository_url }
    ) : (
    { for name, repo in data.aws_ecr_repository.existing : name => repo.repository_url }
  )
}

# -- the code ---------------------------------------------------------------------------------------
# The zip `mlops-events build` wrote beside the bundle (dist/<name>.zip: reproducible, the artifact the
# bundle tests ran under awslambdaric), read as it is: Terraform writes no archive of its own. Its hash
# is the function's source_code_hash: a change in the bundle redeploys, nothing else does.
resource "aws_s3_object" "bundle" {
  count = var.artifact_bucket == null ? 0 : 1

  bucket      = var.artifact_bucket
  key         = "mlops-events/${local.function_name}/${filesha256(local.bundle_zip)}.zip"
  source      = local.bundle_zip
  source_hash = filemd5(local.bundle_zip)
  kms_key_id  = aws_kms_key.this.arn
  tags        = local.tags
}

# -- the function -----------------------------------------------------------------------------------
resource "aws_cloudwatch_log_group" "this" {
  # checkov:skip=CKV_AWS_338:Retention is the caller's per environment (var.log_retention_days, 30 days by default in the platform module); a year of every environment's logs would cost without use, and the durable record of a rollout is its idempotency record and outcome line.
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = local.tags
}

resource "aws_lambda_function" "this" {
  # checkov:skip=CKV_AWS_116:Failed async invocations go to the on-failure destination (aws_lambda_function_event_invoke_config.this), whose records carry the error and attempt count as well as the event; a dead_letter_config as well would deliver every failure twice.
  # checkov:skip=CKV_AWS_272:No code signing: the bundle is built by CI (`mlops-events build`) and deployed by this Terraform from the same run; there is no signing profile to verify against.
  # checkov:skip=CKV_AWS_117:Outside a VPC by default: the function reaches the k3s API's public endpoint over TLS with a ServiceAccount token; set var.vpc_config when the API server is private (with the default null the dynamic block renders nothing).
  function_name = local.function_name
  description   = local.fn.description
  role          = aws_iam_role.this.arn
  runtime       = local.fn.runtime
  handler       = "main.${local.fn.entry_point}"
  architectures = [var.architecture]
  timeout       = local.fn.timeout_s
  memory_size   = local.memory_mb

  filename         = var.artifact_bucket == null ? local.bundle_zip : null
  s3_bucket        = var.artifact_bucket
  s3_key           = one(aws_s3_object.bundle[*].key)
  source_code_hash = filebase64sha256(local.bundle_zip)

  # Concurrency is safe: two pushes rolling the same Deployment are serialized by the patch, which
  # carries the resourceVersion it read (a 409 makes the later one decide again), and a duplicate
  # delivery waits on the idempotency record. It is bounded so that a burst of pushes (a monorepo
  # release tagging ten images) does not become a burst of watchers polling the k3s API at once:
  # the extra invocations wait in Lambda's async queue (up to max_event_age_s). Optional (null:
  # unreserved): an account at the minimum concurrency quota (10) cannot reserve any, and refuses.
  reserved_concurrent_executions = var.reserved_concurrency

  kms_key_arn = aws_kms_key.this.arn
  environment {
    variables = local.environment
  }

  tracing_config {
    mode = "Active"
  }

  # Text format (the default): powertools writes its JSON log lines and EMF metric documents to
  # stdout itself, and CloudWatch extracts EMF metrics only from log events that are the raw JSON.
  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  dynamic "vpc_config" {
    for_each = var.vpc_config == null ? [] : [var.vpc_config]
    content {
      subnet_ids         = vpc_config.value.subnet_ids
      security_group_ids = vpc_config.value.security_group_ids
    }
  }

  tags = local.tags

  # The role's policy must be in place before the first invocation can log, read or write.
  depends_on = [aws_iam_role_policy.this]
}

# EventBridge invokes asynchronously: Lambda retries a failed invocation (after about 1 and 2
# minutes), then sends the event with the error to the queue.
resource "aws_lambda_function_event_invoke_config" "this" {
  function_name                = aws_lambda_function.this.function_name
  maximum_retry_attempts       = local.retry_attempts
  maximum_event_age_in_seconds = local.max_event_age_s

  destination_config {
    on_failure {
      destination = aws_sqs_queue.dead_letter.arn
    }
  }
}

# -- the trigger ------------------------------------------------------------------------------------
resource "aws_cloudwatch_event_rule" "this" {
  name          = local.function_name
  description   = "ECR pushes to ${join(", ", var.repositories)} roll the k3s Deployments that follow them (${local.fn.name})."
  event_pattern = jsonencode(local.event_pattern)
  tags          = local.tags
}

resource "aws_cloudwatch_event_target" "this" {
  rule      = aws_cloudwatch_event_rule.this.name
  target_id = "lambda"
  arn       = aws_lambda_function.this.arn

  retry_policy {
    maximum_event_age_in_seconds = local.max_event_age_s
    maximum_retry_attempts       = 185
  }

  # An event EventBridge could not hand to Lambda at all (throttled, permission removed) lands in
  # the same queue as the ones the function failed on.
  dead_letter_config {
    arn = aws_sqs_queue.dead_letter.arn
  }
}

resource "aws_lambda_permission" "events" {
  statement_id  = "AllowEventBridgeRule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.this.arn
}

resource "aws_sqs_queue" "dead_letter" {
  name                              = local.queue_name
  message_retention_seconds         = 1209600 # 14 days, SQS's longest: a failed rollout needs a look
  kms_master_key_id                 = aws_kms_key.this.arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = local.tags
}

resource "aws_sqs_queue_policy" "dead_letter" {
  queue_url = aws_sqs_queue.dead_letter.id
  policy    = data.aws_iam_policy_document.dead_letter.json
}

# -- what the function reads and writes -------------------------------------------------------------
# powertools' DynamoDBPersistenceLayer with its defaults (shared/deps.py passes only the table name):
# partition key `id` (a string: "<function>#<hash of repository + digest>"), TTL on `expiration`.
resource "aws_dynamodb_table" "idempotency" {
  name                        = local.table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "id"
    type = "S"
  }

  ttl {
    attribute_name = "expiration"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this.arn
  }

  tags = local.tags
}

# The targets document is configuration (repositories, namespaces, tag policies), not a secret: a
# plain String, shown in plans (insecure_value) so a change to it can be reviewed there.
resource "aws_ssm_parameter" "rollout_targets" {
  # checkov:skip=CKV2_AWS_34:Not a secret: the rollout targets (repositories, namespaces, tag policies) live in this repository and in plans on purpose; a SecureString would only hide their diff.
  name           = local.parameter
  description    = "Which k3s Deployments follow which ECR repository (${local.fn.name}, ${var.env})."
  type           = "String"
  tier           = length(var.rollout_targets_yaml) > 4096 ? "Advanced" : "Standard"
  insecure_value = var.rollout_targets_yaml
  tags           = local.tags
}

# Secrets without a version: the values (a kubeconfig or ServiceAccount token, a Slack webhook) are
# put out of band, `aws secretsmanager put-secret-value --secret-id ARN --secret-string file://...`,
# so they never land in Terraform state or plans.
resource "aws_secretsmanager_secret" "this" {
  # checkov:skip=CKV2_AWS_57:Rotated out of band, not by a rotation Lambda: a new ServiceAccount token comes from the cluster and a new webhook from Slack; the function re-reads the secret every 5 minutes and after the cluster refuses its credentials.
  for_each = local.secrets

  name                    = "mlops-events/${var.env}/${each.key}"
  description             = "${each.key} for ${local.fn.name} (${var.env}), read through ${each.value.env}; value put with `aws secretsmanager put-secret-value`."
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = local.tags
}

# -- the images -------------------------------------------------------------------------------------
resource "aws_ecr_repository" "this" {
  # checkov:skip=CKV_AWS_51:Tags must stay mutable: a promotion re-tags a digest already pushed (e.g. `stable`, or a release tag on a staging build), which is the push event a production target follows; rollouts pin the digest, never the tag.
  for_each = var.create_repositories ? toset(var.repositories) : toset([])

  name                 = each.key
  image_tag_mutability = "MUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.this.arn
  }

  tags = local.tags
}

data "aws_ecr_repository" "existing" {
  for_each = var.create_repositories ? toset([]) : toset(var.repositories)

  name = each.key
}

# Deployments run images by digest, so an expired image is a pod that cannot be rescheduled. Releases
# (tags matching var.release_tag_patterns) get their own, higher-priority rule: a flood of branch
# builds cannot expire the release production runs. There is no "expire untagged" rule: a target
# with policy `all` follows untagged pushes by digest, so an untagged image can be the one running.
resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  policy = jsonencode({
    rules = concat(local.release_rules, [
      {
        rulePriority = length(local.release_rules) + 1
        description  = "Keep the ${var.image_count_to_keep} most recent other images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.image_count_to_keep
        }
        action = { type = "expire" }
      },
    ])
  })
}

# -- the key ----------------------------------------------------------------------------------------
resource "aws_kms_key" "this" {
  description             = "mlops-events ${local.fn.name} (${var.env}): logs, idempotency table, dead-letter queue, secrets, images."
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = local.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/mlops-events/${local.function_name}"
  target_key_id = aws_kms_key.this.key_id
}
