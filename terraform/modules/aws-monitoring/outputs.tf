output "topic_arn" {
  description = "The SNS topic every alarm and budget notification goes to."
  value       = aws_sns_topic.alarms.arn
}

output "alarms" {
  description = "Every alarm by name: severity, runbook, description, actions."
  value = {
    for a in concat(values(aws_cloudwatch_metric_alarm.this), values(aws_cloudwatch_metric_alarm.dynamodb_throttles)) : a.alarm_name => {
      severity    = a.tags.severity
      runbook     = a.tags.runbook
      description = a.alarm_description
      actions     = a.alarm_actions
      metric      = a.metric_name
      threshold   = a.threshold
    }
  }
}

output "budget_notifications" {
  description = "The budget's notifications as \"TYPE:percent\" (empty without a budget)."
  value       = flatten([for b in aws_budgets_budget.monthly : [for n in b.notification : "${n.notification_type}:${n.threshold}"]])
}

output "names" {
  description = "Names this module takes in the account (for the two-environments-one-account check)."
  value = concat(
    [local.name, "alias/${local.name}"],
    [for key, a in local.alarms : "mlops-events-${var.env}-${key}"],
    var.budget == null ? [] : ["mlops-events-${var.env}"],
  )
}
