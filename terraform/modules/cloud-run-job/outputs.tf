output "name" {
  description = "The job's name (gcloud run jobs execute NAME)."
  value       = google_cloud_run_v2_job.this.name
}

output "task_count" {
  description = "Tasks per execution: the output parts a complete run leaves (-part-<i>-of-<n> when more than one)."
  value       = google_cloud_run_v2_job.this.template[0].task_count
}

output "service_account_email" {
  description = "The job's own identity."
  value       = google_service_account.job.email
}

output "scheduler_job_id" {
  description = "The Cloud Scheduler job starting it (null when on demand only)."
  value       = var.schedule == null ? null : google_cloud_scheduler_job.run[0].id
}

output "iam_bindings" {
  description = "Roles this module grants, as \"member: role on resource\"."
  value = concat(
    ["${google_storage_bucket_iam_member.models_read.member}: ${google_storage_bucket_iam_member.models_read.role} on bucket ${google_storage_bucket_iam_member.models_read.bucket}"],
    [for grant in google_storage_bucket_iam_member.input : "${grant.member}: ${grant.role} on bucket ${grant.bucket}"],
    [for grant in google_storage_bucket_iam_member.output : "${grant.member}: ${grant.role} on bucket ${grant.bucket}"],
    [for grant in google_bigquery_dataset_iam_member.input : "${grant.member}: ${grant.role} on dataset ${grant.dataset_id}"],
    [for grant in google_bigquery_dataset_iam_member.output : "${grant.member}: ${grant.role} on dataset ${grant.dataset_id}"],
    [for grant in google_project_iam_member.bigquery_jobs : "${grant.member}: ${grant.role} on project"],
    ["${google_project_iam_member.firestore.member}: ${google_project_iam_member.firestore.role} on project"],
    [for grant in google_cloud_run_v2_job_iam_member.scheduler : "${grant.member}: ${grant.role} on job ${grant.name}"],
  )
}
