# terraform test: the budget and its topic, mock-applied.

mock_provider "google" {
  source = "../../tests/mocks/google"
}

variables {
  project_id      = "mlops-events-test-000000"
  billing_account = "000000-000000-000000"
  display_name    = "mlops-events-test"
  amount          = 200.75
  topic_name      = "billing-budget-alerts"
  scope_projects  = ["projects/123456789012"]
}

run "every_update_to_the_topic_only" {
  assert {
    condition     = google_billing_budget.this.all_updates_rule[0].disable_default_iam_recipients && google_billing_budget.this.all_updates_rule[0].pubsub_topic == google_pubsub_topic.alerts.id
    error_message = "Updates go to the topic only (budget_alert is the one that talks to people)."
  }
  assert {
    condition     = [for r in google_billing_budget.this.threshold_rules : "${r.spend_basis}:${r.threshold_percent}"] == ["CURRENT_SPEND:0.5", "CURRENT_SPEND:0.9", "CURRENT_SPEND:1", "FORECASTED_SPEND:1"]
    error_message = "The thresholds, current then forecasted."
  }
  assert {
    condition     = google_billing_budget.this.amount[0].specified_amount[0].units == "200"
    error_message = "Whole units."
  }
  assert {
    condition     = google_pubsub_topic_iam_member.billing_publisher.member == "serviceAccount:billing-budget-alert@system.gserviceaccount.com"
    error_message = "Cloud Billing publishes."
  }
}
