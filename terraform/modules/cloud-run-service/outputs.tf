output "uri" {
  description = "The service's URI."
  value       = google_cloud_run_v2_service.this.uri
}

output "name" {
  description = "The service's name."
  value       = google_cloud_run_v2_service.this.name
}

output "service_account_email" {
  description = "The service's own identity."
  value       = google_service_account.service.email
}

output "iam_bindings" {
  description = "Roles this module grants, as \"member: role on resource\" (the callers' run.invoker included)."
  value = concat(
    [for grant in google_cloud_run_v2_service_iam_member.invoker : "${grant.member}: ${grant.role} on service ${grant.name}"],
    ["${google_storage_bucket_iam_member.models_read.member}: ${google_storage_bucket_iam_member.models_read.role} on bucket ${google_storage_bucket_iam_member.models_read.bucket}"],
    ["${google_bigquery_dataset_iam_member.monitoring_read.member}: ${google_bigquery_dataset_iam_member.monitoring_read.role} on dataset ${google_bigquery_dataset_iam_member.monitoring_read.dataset_id}"],
    ["${google_project_iam_member.bigquery_jobs.member}: ${google_project_iam_member.bigquery_jobs.role} on project"],
    ["${google_project_iam_member.firestore.member}: ${google_project_iam_member.firestore.role} on project"],
    [for grant in google_project_iam_member.metric_writer : "${grant.member}: ${grant.role} on project"],
    [for grant in google_secret_manager_secret_iam_member.sidecar_config : "${grant.member}: ${grant.role} on secret ${grant.secret_id}"],
  )
}
