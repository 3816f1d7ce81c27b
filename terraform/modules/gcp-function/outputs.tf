output "function_name" {
  description = "Deployed function name."
  value       = google_cloudfunctions2_function.this.name
}

output "uri" {
  description = "The function's Cloud Run URI (audience of OIDC tokens)."
  value       = google_cloudfunctions2_function.this.service_config[0].uri
}

output "service_name" {
  description = "The function's Cloud Run service, for run.invoker bindings."
  value       = google_cloudfunctions2_function.this.service_config[0].service
}

output "service_account_email" {
  description = "The function's own service account: the platform grants it what its adapters use."
  value       = google_service_account.function.email
}

output "invoker_service_account_email" {
  description = "Identity of Eventarc or the push subscription (null for HTTP functions)."
  value       = local.needs_invoker ? google_service_account.invoker[0].email : null
}

output "subscription_id" {
  description = "The push subscription of a pubsub or schedule trigger (null otherwise)."
  value       = local.is_push ? google_pubsub_subscription.push[0].id : null
}

output "eventarc_trigger_ids" {
  description = "Eventarc triggers for the event types beyond the first, by event type."
  value       = { for type, trigger in google_eventarc_trigger.more : type => trigger.id }
}

output "source_object" {
  description = "The source zip in the sources bucket (its name carries the content hash)."
  value       = google_storage_bucket_object.source.name
}
