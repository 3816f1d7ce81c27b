output "job_id" {
  description = "The Cloud Scheduler job's id."
  value       = google_cloud_scheduler_job.this.id
}

output "job_name" {
  description = "The job's name, as the function sees it."
  value       = google_cloud_scheduler_job.this.name
}

output "invoker_service_account_email" {
  description = "The HTTP target's OIDC identity (null for Pub/Sub targets)."
  value       = local.is_http ? google_service_account.invoker[0].email : null
}

output "iam_bindings" {
  description = "Roles this module grants, as \"member: role on resource\"."
  value       = [for grant in google_cloud_run_v2_service_iam_member.invoker : "${grant.member}: ${grant.role} on service ${grant.name}"]
}

output "body_json" {
  description = "The JSON the job sends: the Pub/Sub message's data, or the HTTP body (null when none)."
  value       = var.pubsub_target != null ? jsonencode(var.pubsub_target.payload) : (var.http_target.body == null ? null : jsonencode(var.http_target.body))
}
