output "name" {
  description = "The job's name (gcloud run jobs execute NAME)."
  value       = google_cloud_run_v2_job.this.name
}

output "service_account_email" {
  description = "The job's own identity."
  value       = google_service_account.job.email
}

output "scheduler_job_id" {
  description = "The Cloud Scheduler job starting it (null when on demand only)."
  value       = var.schedule == null ? null : google_cloud_scheduler_job.run[0].id
}
