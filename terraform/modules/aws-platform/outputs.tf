output "ecr_rollout" {
  description = "Per Lambda: function, rule, idempotency table, SSM parameter, repositories, dead-letter queue, kubeconfig secret."
  value = {
    for name, m in module.ecr_rollout : name => {
      lambda_function_name           = m.lambda_function_name
      lambda_function_arn            = m.lambda_function_arn
      event_rule_arn                 = m.event_rule_arn
      idempotency_table_name         = m.idempotency_table_name
      rollout_targets_parameter_name = m.rollout_targets_parameter_name
      repository_urls                = m.repository_urls
      dead_letter_queue_url          = m.dead_letter_queue_url
      kubeconfig_secret_arn          = m.kubeconfig_secret_arn
    }
  }
}

output "names" {
  description = "Every name this environment takes in its AWS account (function, role, table, parameter, queue, rule, log group, key alias, secrets), for the check that two environments in one account collide on none."
  value       = sort(flatten([for m in module.ecr_rollout : m.names]))
}

output "role_permissions_boundaries" {
  description = "Every IAM role this environment creates, by name, with the permissions boundary it carries."
  value       = merge([for m in module.ecr_rollout : m.role_permissions_boundaries]...)
}
