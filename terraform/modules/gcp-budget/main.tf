# A monthly budget whose every update goes to an own Pub/Sub topic; budget_alert reads it.

resource "google_pubsub_topic" "alerts" {
  # checkov:skip=CKV_GCP_83:CMEK is optional (var.kms_key_name); budget updates hold amounts, no personal data.
  project                    = var.project_id
  name                       = var.topic_name
  kms_key_name               = var.kms_key_name
  message_retention_duration = "86400s"
}

# Cloud Billing publishes budget updates as this service account.
resource "google_pubsub_topic_iam_member" "billing_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.alerts.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:billing-budget-alert@system.gserviceaccount.com"
}

resource "google_billing_budget" "this" {
  billing_account = var.billing_account
  display_name    = var.display_name

  budget_filter {
    projects               = length(var.scope_projects) > 0 ? var.scope_projects : null
    calendar_period        = "MONTH"
    credit_types_treatment = "INCLUDE_ALL_CREDITS"
  }

  amount {
    specified_amount {
      currency_code = var.currency_code
      units         = tostring(floor(var.amount))
    }
  }

  dynamic "threshold_rules" {
    for_each = var.current_spend_thresholds

    content {
      threshold_percent = threshold_rules.value
      spend_basis       = "CURRENT_SPEND"
    }
  }

  dynamic "threshold_rules" {
    for_each = var.forecasted_spend_thresholds

    content {
      threshold_percent = threshold_rules.value
      spend_basis       = "FORECASTED_SPEND"
    }
  }

  all_updates_rule {
    pubsub_topic   = google_pubsub_topic.alerts.id
    schema_version = "1.0"
    # Only the topic: budget_alert is the one that talks to people.
    disable_default_iam_recipients = true
  }

  depends_on = [google_pubsub_topic_iam_member.billing_publisher]
}
