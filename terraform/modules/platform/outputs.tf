output "functions" {
  description = "Deployed GCP functions by manifest name: name, URI, service account."
  value = {
    for name, f in module.function : name => {
      function_name   = f.function_name
      uri             = f.uri
      service_account = f.service_account_email
    }
  }
}

output "buckets" {
  description = "Buckets by role (models, drift_data, drift_logs, sources)."
  value       = module.storage.bucket_names
}

output "topics" {
  description = "Pub/Sub topic ids by name (triggers, dead letters, budget alerts)."
  value       = local.topic_ids
}

output "secrets" {
  description = "Secret Manager secret ids; add values with `gcloud secrets versions add NAME --data-file=-`."
  value       = [for s in google_secret_manager_secret.this : s.secret_id]
}

output "registry_table" {
  description = "The registry table (project.dataset.table)."
  value       = module.registry.models_table_id
}

output "drift_runs_table" {
  description = "The drift-runs table (project.dataset.table)."
  value       = module.registry.drift_runs_table_id
}

output "inference_uri" {
  description = "The inference service's URI (null when not deployed)."
  value       = var.inference == null ? null : module.inference[0].uri
}

output "function_event_types" {
  description = "Per function, the event types Eventarc delivers to it (empty for Pub/Sub, schedule and HTTP functions)."
  value       = { for name, f in module.function : name => f.event_types }
}

output "budget_id" {
  description = "The Cloud Billing budget (null without budget or budget function)."
  value       = local.with_budget ? module.budget[0].budget_id : null
}

output "iam_bindings" {
  description = "Every role the platform grants, as \"member: role on resource\": the functions', their invokers', the build identity's, the service agents', the inference service's and the batch job's. Reviewable in a plan, asserted by the tests."
  value = sort(distinct(concat(
    [for grant in google_storage_bucket_iam_member.function : "${grant.member}: ${grant.role} on bucket ${grant.bucket}"],
    [for grant in google_bigquery_dataset_iam_member.function : "${grant.member}: ${grant.role} on dataset ${grant.dataset_id}"],
    [for grant in google_bigquery_dataset_iam_member.drift_sources : "${grant.member}: ${grant.role} on dataset ${grant.dataset_id}"],
    [for grant in google_project_iam_member.bigquery_jobs : "${grant.member}: ${grant.role} on project"],
    [for grant in google_project_iam_member.firestore : "${grant.member}: ${grant.role} on project"],
    [for grant in google_project_iam_member.bucket_lister : "${grant.member}: ${grant.role} on project"],
    [for grant in google_project_iam_member.gcs_pubsub_publisher : "${grant.member}: ${grant.role} on project"],
    [for grant in google_project_iam_member.build : "${grant.member}: ${grant.role} on project"],
    [for grant in google_storage_bucket_iam_member.build_sources : "${grant.member}: ${grant.role} on bucket ${grant.bucket}"],
    [for grant in google_pubsub_topic_iam_member.dead_letter_publisher : "${grant.member}: ${grant.role} on topic ${grant.topic}"],
    flatten([for f in module.function : [for b in f.iam_bindings : "${b.member}: ${b.role} on ${b.on}"]]),
    flatten([for s in module.schedule : s.iam_bindings]),
    flatten([for b in module.budget : b.iam_bindings]),
    flatten([for i in module.inference : i.iam_bindings]),
    flatten([for j in module.batch_job : j.iam_bindings]),
  )))
}

output "service_accounts" {
  description = "Service account emails by role: function:<name>, invoker:<name>, build, inference, batch_job."
  value = merge(
    { for name, f in module.function : "function:${name}" => f.service_account_email },
    { for name, f in module.function : "invoker:${name}" => f.invoker_service_account_email if f.invoker_service_account_email != null },
    { for sa in google_service_account.build : "build" => sa.email },
    { for i in module.inference : "inference" => i.service_account_email },
    { for j in module.batch_job : "batch_job" => j.service_account_email },
  )
}

output "schedule_bodies" {
  description = "Per scheduled function, the JSON its Cloud Scheduler job sends (Pub/Sub data or HTTP body)."
  value       = { for name, s in module.schedule : name => s.body_json }
}
