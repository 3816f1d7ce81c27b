output "lambda_function_arn" {
  description = "ARN of the rollout Lambda."
  value       = aws_lambda_function.this.arn
}

output "lambda_function_name" {
  description = "Name of the rollout Lambda (<name>-<env>, underscores as hyphens)."
  value       = aws_lambda_function.this.function_name
}

output "role_arn" {
  description = "ARN of the Lambda's execution role."
  value       = aws_iam_role.this.arn
}

output "event_rule_arn" {
  description = "ARN of the EventBridge rule matching pushes to the repositories."
  value       = aws_cloudwatch_event_rule.this.arn
}

output "idempotency_table_name" {
  description = "DynamoDB table of powertools' idempotency records (one per repository + digest + targets)."
  value       = aws_dynamodb_table.idempotency.name
}

output "repository_urls" {
  description = "ECR repository URL per repository name (created here, or looked up when create_repositories is false)."
  value       = local.repository_urls
}

output "dead_letter_queue_url" {
  description = "URL of the SQS queue receiving events the Lambda failed on (after its retries) or EventBridge could not deliver."
  value       = aws_sqs_queue.dead_letter.url
}

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue (for an alarm on its depth)."
  value       = aws_sqs_queue.dead_letter.arn
}

output "kubeconfig_secret_arn" {
  description = "ARN of the Secrets Manager secret the kubeconfig (or {server, token, certificate-authority-data}) is put into; null when the manifest names none."
  value       = local.kubeconfig_secret == null ? null : aws_secretsmanager_secret.this[local.kubeconfig_secret].arn
}

output "secret_arns" {
  description = "ARN per manifest secret name; values are put out of band (aws secretsmanager put-secret-value)."
  value       = { for name, secret in aws_secretsmanager_secret.this : name => secret.arn }
}

output "rollout_targets_parameter_name" {
  description = "Name of the SSM parameter holding the rollout targets."
  value       = aws_ssm_parameter.rollout_targets.name
}

output "log_group_name" {
  description = "CloudWatch Logs group of the Lambda (its outcome lines and EMF metrics)."
  value       = aws_cloudwatch_log_group.this.name
}

output "kms_key_arn" {
  description = "ARN of the module's KMS key (logs, table, queue, secrets, images, environment)."
  value       = aws_kms_key.this.arn
}

output "names" {
  description = "Every account-wide name this module takes (ECR repositories only when it creates them)."
  value = concat(
    [
      "lambda:${aws_lambda_function.this.function_name}",
      "role:${aws_iam_role.this.name}",
      "dynamodb:${aws_dynamodb_table.idempotency.name}",
      "ssm:${aws_ssm_parameter.rollout_targets.name}",
      "sqs:${aws_sqs_queue.dead_letter.name}",
      "events:${aws_cloudwatch_event_rule.this.name}",
      "logs:${aws_cloudwatch_log_group.this.name}",
      "kms:${aws_kms_alias.this.name}",
    ],
    [for secret in aws_secretsmanager_secret.this : "secretsmanager:${secret.name}"],
    [for repository in aws_ecr_repository.this : "ecr:${repository.name}"],
  )
}

output "environment" {
  description = "The Lambda's environment variables (names deployed, secret ARNs; no secret values)."
  value       = local.environment
}

output "role_permissions_boundaries" {
  description = "Every IAM role this module creates, by name, with the permissions boundary it carries (all of them: the environment's)."
  value       = { (aws_iam_role.this.name) = aws_iam_role.this.permissions_boundary }
}
