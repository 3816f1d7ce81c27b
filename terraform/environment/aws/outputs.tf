output "ecr_rollout" {
  description = "The AWS side of the platform, per Lambda."
  value       = module.aws_platform.ecr_rollout
}

output "names" {
  description = "Every name this environment takes in its AWS account."
  value       = module.aws_platform.names
}

output "alarms" {
  description = "CloudWatch alarms by name: severity, runbook, description."
  value       = module.aws_monitoring.alarms
}

output "alarm_topic_arn" {
  description = "The SNS topic of every alarm and budget notification."
  value       = module.aws_monitoring.topic_arn
}
