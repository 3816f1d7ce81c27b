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

output "ecr_rollout" {
  description = "The AWS side per Lambda: function, rule, idempotency table, repositories, dead-letter queue, kubeconfig secret."
  value = {
    for name, m in module.ecr_rollout : name => {
      lambda_function_arn    = m.lambda_function_arn
      event_rule_arn         = m.event_rule_arn
      idempotency_table_name = m.idempotency_table_name
      repository_urls        = m.repository_urls
      dead_letter_queue_url  = m.dead_letter_queue_url
      kubeconfig_secret_arn  = m.kubeconfig_secret_arn
    }
  }
}
