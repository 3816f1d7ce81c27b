# terraform test: the monitoring module, planned and mock-applied with the repository's manifest.

mock_provider "google" {
  source = "../../tests/mocks/google"
}

variables {
  project_id           = "mlops-events-test-000000"
  env                  = "test"
  manifest_path        = "../../../functions/manifest.yaml"
  topic_ids            = { monitoring-alerts = "projects/mlops-events-test-000000/topics/monitoring-alerts" }
  notification_email   = "oncall@example.com"
  pagerduty_channel_id = "projects/mlops-events-test-000000/notificationChannels/1234567890"
  inference_service    = { name = "inference", region = "europe-west1" }
}

run "first_plan" {
  command = plan

  assert {
    condition     = toset(keys(google_monitoring_alert_policy.dead_letters_waiting)) == toset(["reconcile-registry-dead-letter-hold", "budget-alert-dead-letter-hold", "monitoring-alert-dead-letter-hold", "drift-report-dead-letter-hold"])
    error_message = "Every manifest dead-letter topic's hold subscription is watched."
  }
}

run "every_policy_has_a_severity_a_runbook_and_channels" {
  assert {
    condition     = length(output.policies) == 21
    error_message = "2 function policies, drift, 2 per hold (4 holds), scheduler, 9 inference policies."
  }
  assert {
    condition     = alltrue([for name, p in output.policies : contains(["p0", "p1", "p2"], p.severity)])
    error_message = "Every policy has a severity label p0, p1 or p2."
  }
  assert {
    condition     = alltrue([for name, p in output.policies : p.url == "https://github.com/mlops-events/mlops-events/blob/main/docs/runbooks/${p.runbook}.md"])
    error_message = "Every policy links its own runbook."
  }
  assert {
    condition     = alltrue([for name, p in output.policies : p.channels > 0])
    error_message = "Every policy notifies someone when shadow mode is off."
  }
  assert {
    condition     = { for name, p in output.policies : p.runbook => p.severity... }["inference-uptime"] == ["p0"] && { for name, p in output.policies : p.runbook => p.severity... }["inference-latency"] == ["p1"] && { for name, p in output.policies : p.runbook => p.severity... }["inference-cpu"] == ["p2"]
    error_message = "Uptime P0, p95 latency P1, CPU P2 (the old platform's severities)."
  }
  assert {
    condition     = length(output.notification_channels.p0) == 3 && length(output.notification_channels.p1) == 2 && length(output.notification_channels.p2) == 1
    error_message = "P0: PagerDuty, email, Slack; P1: email, Slack; P2: Slack."
  }
  assert {
    condition     = google_monitoring_notification_channel.pubsub[0].labels.topic == var.topic_ids["monitoring-alerts"] && google_pubsub_topic_iam_member.monitoring_publisher[0].member == "serviceAccount:service-123456789012@gcp-sa-monitoring-notification.iam.gserviceaccount.com"
    error_message = "The Pub/Sub channel publishes to monitoring_alert's topic, as the Monitoring notification agent, which may publish there."
  }
  assert {
    condition     = google_cloud_run_v2_service_iam_member.uptime_invoker["service"].member == "serviceAccount:service-123456789012@gcp-sa-monitoring-notification.iam.gserviceaccount.com" && google_monitoring_uptime_check_config.inference["service"].http_check[0].path == "/healthz"
    error_message = "The uptime check calls /healthz with the Monitoring agent's OIDC token, which may invoke the private service."
  }
}

run "shadow_mode_silences_p1_and_p2_only" {
  variables {
    monitoring_shadow_mode = true
  }
  assert {
    condition     = alltrue([for name, p in output.policies : p.channels == 0 && p.shadow if p.severity != "p0"])
    error_message = "In shadow mode P1 and P2 policies exist but notify nobody."
  }
  assert {
    condition     = alltrue([for name, p in output.policies : p.channels == 3 && !p.shadow if p.severity == "p0"])
    error_message = "P0 always notifies."
  }
  assert {
    condition     = length([for name, p in output.policies : p if p.severity != "p0"]) > 0
    error_message = "The shadowed policies are still there."
  }
}

run "without_inference_pagerduty_or_email" {
  variables {
    inference_service    = null
    pagerduty_channel_id = null
    notification_email   = null
    disabled_functions   = ["drift_report", "drift_report_http"]
  }
  assert {
    condition     = length(output.policies) == 2 + 2 * 3 + 1
    error_message = "Function policies, 2 per remaining hold, the scheduler policy; no inference nor drift policy."
  }
  assert {
    condition     = join(",", output.notification_channels.p0) == join(",", output.notification_channels.p2) && length(output.notification_channels.p0) == 1
    error_message = "Slack alone is every severity's channel."
  }
  assert {
    condition     = length(google_logging_metric.drift_detected) == 0
    error_message = "No drift metric without a drift function."
  }
}
