output "functions" {
  description = "Deployed GCP functions by manifest name."
  value       = module.platform.functions
}

output "buckets" {
  description = "Buckets by role."
  value       = module.platform.buckets
}

output "topics" {
  description = "Pub/Sub topics by name."
  value       = module.platform.topics
}

output "secrets" {
  description = "Secrets to give a value with `gcloud secrets versions add`."
  value       = module.platform.secrets
}

output "inference_uri" {
  description = "The inference service's URI."
  value       = module.platform.inference_uri
}

output "function_event_types" {
  description = "Per function, the event types Eventarc delivers to it."
  value       = module.platform.function_event_types
}

output "iam_bindings" {
  description = "Every role the platform grants (\"member: role on resource\")."
  value       = module.platform.iam_bindings
}

output "alert_policies" {
  description = "Alert policies by display name: severity, runbook, shadow, runbook URL, channel count."
  value       = module.monitoring.policies
}
