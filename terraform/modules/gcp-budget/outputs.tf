output "budget_id" {
  description = "The budget's id (budgetId in notifications' attributes)."
  value       = google_billing_budget.this.name
}

output "topic_id" {
  description = "Full id of the alert topic."
  value       = google_pubsub_topic.alerts.id
}

output "topic_name" {
  description = "Name of the alert topic (the manifest's trigger.topic)."
  value       = google_pubsub_topic.alerts.name
}

output "iam_bindings" {
  description = "Roles this module grants, as \"member: role on resource\"."
  value       = ["${google_pubsub_topic_iam_member.billing_publisher.member}: ${google_pubsub_topic_iam_member.billing_publisher.role} on topic ${google_pubsub_topic_iam_member.billing_publisher.topic}"]
}
