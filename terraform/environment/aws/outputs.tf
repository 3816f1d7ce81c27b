output "ecr_rollout" {
  description = "The AWS side of the platform, per Lambda."
  value       = module.aws_platform.ecr_rollout
}

output "names" {
  description = "Every name this environment takes in its AWS account."
  value       = module.aws_platform.names
}
