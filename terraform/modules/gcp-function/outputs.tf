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

output "event_types" {
  description = "Every event type delivered to the function by Eventarc: the function's own trigger's and one per further trigger (empty for other kinds)."
  value = concat(
    [for trigger in google_cloudfunctions2_function.this.event_trigger : trigger.event_type if local.is_storage],
    [for trigger in google_eventarc_trigger.more : one([for criterion in trigger.matching_criteria : criterion.value if criterion.attribute == "type"])],
  )
}

output "iam_bindings" {
  description = "Every role this module grants: member, role and what it is granted on (the function's identity, its invoker, Pub/Sub's service agent)."
  value = concat(
    [for grant in google_secret_manager_secret_iam_member.access : { member = grant.member, role = grant.role, on = "secret ${grant.secret_id}" }],
    [for grant in google_cloud_run_v2_service_iam_member.invoker : { member = grant.member, role = grant.role, on = "service ${grant.name}" }],
    [for grant in google_project_iam_member.event_receiver : { member = grant.member, role = grant.role, on = "project" }],
    [for grant in google_pubsub_subscription_iam_member.dead_letter_subscriber : { member = grant.member, role = grant.role, on = "subscription ${grant.subscription}" }],
  )
}
