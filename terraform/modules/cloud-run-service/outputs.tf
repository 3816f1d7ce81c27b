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
