# Monitoring as code for one environment's GCP side, driven by functions/manifest.yaml: log-based
# metrics from the functions' own outcome lines (shared/runtime.py: one JSON line per event, logger
# "mlops_events.outcome"), the alert policies on them, on the dead-letter holds, the schedules and the
# inference service, and the notification channels. Every policy carries a severity label (p0, p1,
# p2) and a documentation block linking its runbook (docs/runbooks/<alert>.md); P1 and P2 notify
# nobody while var.monitoring_shadow_mode is on.
#
# The log filters are literal strings in local.log_filters, in the subset of the Logging query
# language tests/support/log_filter.py evaluates exactly: tests/functional/test_monitoring_filters.py
# replays every fixture and checks each filter against the outcome lines the functions really wrote.

locals {
  manifest  = yamldecode(file(var.manifest_path))
  functions = [for f in local.manifest.functions : f if !contains(var.disabled_functions, f.name) && f.platform == "gcp-function"]

  # Dead letters wait in "<dead-letter topic>-hold" (platform module); any message there is an incident.
  holds = toset([
    for f in local.functions : "${f.retry.dead_letter_topic}-hold"
    if contains(["pubsub", "schedule"], f.trigger.kind) && try(f.retry.dead_letter_topic, null) != null
  ])
  # Cloud Scheduler job names, as the platform module names them.
  scheduler_jobs = sort([
    for f in local.functions : try(f.trigger.attributes.scheduler_job, replace(f.name, "_", "-"))
    if contains(["schedule", "http"], f.trigger.kind)
  ])
  # The drift run's outcome line says "DRIFT in N of M features" when the dataset drifted.
  with_drift = anytrue([for f in local.functions : f.source == "functions/drift_report.py"])

  # The Pub/Sub channel exists when the alert function is deployed (a count known at plan: the topic's
  # id is not known before apply).
  alert_topics   = [for f in local.functions : f.trigger.topic if f.name == var.alert_function]
  with_slack     = length(local.alert_topics) > 0
  alert_topic_id = local.with_slack ? var.topic_ids[local.alert_topics[0]] : null

  labels = merge(var.labels, { app = "mlops-events", env = var.env })

  # Gen2 functions run on Cloud Run: their stdout lines are cloud_run_revision entries, the JSON in
  # jsonPayload. Literal filters only (no interpolation): the test evaluates them as written.
  log_filters = {
    outcomes = "resource.type=\"cloud_run_revision\" AND jsonPayload.logger=\"mlops_events.outcome\""
    drift    = "resource.type=\"cloud_run_revision\" AND jsonPayload.logger=\"mlops_events.outcome\" AND jsonPayload.function=(\"drift_report\" OR \"drift_report_http\") AND jsonPayload.outcome=\"applied\" AND jsonPayload.detail=~\"^[^;]*: DRIFT in [0-9]+ of [0-9]+ features\""
  }

  runbook = "${trimsuffix(var.runbook_base_url, "/")}/"
  shadow  = var.monitoring_shadow_mode ? "true" : "false"
}

data "google_project" "this" {
  project_id = var.project_id
}

# -- notification channels -------------------------------------------------------------------------
resource "google_monitoring_notification_channel" "email" {
  count = var.notification_email == null ? 0 : 1

  project      = var.project_id
  display_name = "mlops-events ${var.env} on-call email"
  type         = "email"
  labels       = { email_address = var.notification_email }
  user_labels  = local.labels
}

# Cloud Monitoring publishes each incident (opened, acknowledged, closed) to monitoring_alert's topic;
# the function posts to Slack (one message per opening and closing).
resource "google_monitoring_notification_channel" "pubsub" {
  count = local.with_slack ? 1 : 0

  project      = var.project_id
  display_name = "mlops-events ${var.env} Slack (monitoring_alert)"
  type         = "pubsub"
  labels       = { topic = local.alert_topic_id }
  user_labels  = local.labels
}

# The Monitoring notification service agent publishes to the topic.
resource "google_pubsub_topic_iam_member" "monitoring_publisher" {
  count = local.with_slack ? 1 : 0

  project = var.project_id
  topic   = local.alert_topic_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-monitoring-notification.iam.gserviceaccount.com"
}

# PagerDuty: the channel holds the integration key, and secret values never go through Terraform (no
# key in a tfvars file nor in the state). It is created once out of band from the key in Secret Manager
# (docs/runbooks/pagerduty-channel.md) and named here by its id.
locals {
  email     = google_monitoring_notification_channel.email[*].id
  slack     = google_monitoring_notification_channel.pubsub[*].id
  pagerduty = var.pagerduty_channel_id == null ? [] : [var.pagerduty_channel_id]
  # P0 pages (PagerDuty), mails and posts; P1 mails and posts; P2 posts. Shadow mode: P1/P2 notify nobody.
  channels = {
    p0 = concat(local.pagerduty, local.email, local.slack)
    p1 = var.monitoring_shadow_mode ? [] : concat(local.email, local.slack)
    p2 = var.monitoring_shadow_mode ? [] : local.slack
  }
}

# -- log-based metrics from the outcome lines ------------------------------------------------------
resource "google_logging_metric" "function_outcomes" {
  project     = var.project_id
  name        = "mlops-events/function-outcomes"
  description = "One per outcome line: function x outcome (applied, duplicate, ignored, rejected, retry, error)."
  filter      = local.log_filters.outcomes

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key        = "function"
      value_type = "STRING"
    }
    labels {
      key        = "outcome"
      value_type = "STRING"
    }
  }
  label_extractors = {
    function = "EXTRACT(jsonPayload.function)"
    outcome  = "EXTRACT(jsonPayload.outcome)"
  }
}

resource "google_logging_metric" "function_latency" {
  project         = var.project_id
  name            = "mlops-events/function-latency"
  description     = "Each event's handling time (latency_ms of its outcome line), by function and outcome."
  filter          = local.log_filters.outcomes
  value_extractor = "EXTRACT(jsonPayload.latency_ms)"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "ms"
    labels {
      key        = "function"
      value_type = "STRING"
    }
    labels {
      key        = "outcome"
      value_type = "STRING"
    }
  }
  label_extractors = {
    function = "EXTRACT(jsonPayload.function)"
    outcome  = "EXTRACT(jsonPayload.outcome)"
  }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 24
      growth_factor      = 2
      scale              = 1
    }
  }
}

resource "google_logging_metric" "drift_detected" {
  count = local.with_drift ? 1 : 0

  project     = var.project_id
  name        = "mlops-events/drift-detected"
  description = "Drift runs whose dataset drifted (the outcome line's \"DRIFT in N of M features\")."
  filter      = local.log_filters.drift

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key        = "function"
      value_type = "STRING"
    }
  }
  label_extractors = {
    function = "EXTRACT(jsonPayload.function)"
  }
}
