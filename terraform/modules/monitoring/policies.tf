# The alert policies. Each: user_labels.severity (p0 | p1 | p2) and runbook (docs/runbooks/<runbook>.md,
# linked from its documentation), the channels of its severity (local.channels: P1/P2 empty in shadow
# mode), and Cloud Monitoring's own severity field to match.

# -- functions (log-based metrics) -----------------------------------------------------------------
resource "google_monitoring_alert_policy" "function_error_rate" {
  project               = var.project_id
  display_name          = "function errors and retries > ${var.thresholds.function_error_ratio * 100}% (${var.env})"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.channels.p1
  user_labels           = merge(local.labels, { severity = "p1", runbook = "function-error-rate", shadow = local.shadow })

  conditions {
    display_name = "error + retry share of a function's outcomes, 15 min"
    condition_threshold {
      filter             = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.function_outcomes.name}\" AND resource.type=\"cloud_run_revision\" AND metric.label.outcome=one_of(\"error\", \"retry\")"
      denominator_filter = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.function_outcomes.name}\" AND resource.type=\"cloud_run_revision\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.thresholds.function_error_ratio
      duration           = "0s"
      aggregations {
        alignment_period     = "900s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.function"]
      }
      denominator_aggregations {
        alignment_period     = "900s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.function"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "[P1] mlops-events ${var.env}: $${metric.label.function} fails or retries"
    content   = "A function's `error` and `retry` outcomes are over ${var.thresholds.function_error_ratio * 100}% of its events in 15 minutes: a backend is down (`retry`, redelivered) or a configuration or bug fails every event (`error`). Redeliveries continue until the dead-letter topic.\n\nRunbook: [function-error-rate](${local.runbook}function-error-rate.md)"
    links {
      display_name = "Runbook"
      url          = "${local.runbook}function-error-rate.md"
    }
  }
}

resource "google_monitoring_alert_policy" "function_rejected_spike" {
  project               = var.project_id
  display_name          = "function rejected spike (${var.env})"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.channels.p2
  user_labels           = merge(local.labels, { severity = "p2", runbook = "function-rejected-spike", shadow = local.shadow })

  conditions {
    display_name = "more than ${var.thresholds.rejected_per_15min} rejected events of one function in 15 min"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.function_outcomes.name}\" AND resource.type=\"cloud_run_revision\" AND metric.label.outcome=\"rejected\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.thresholds.rejected_per_15min
      duration        = "0s"
      aggregations {
        alignment_period     = "900s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.function"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "[P2] mlops-events ${var.env}: $${metric.label.function} rejects events"
    content   = "Many events were rejected (bad input: acknowledged, never retried, nothing written): a producer changed its event shape, or someone is sending malformed events.\n\nRunbook: [function-rejected-spike](${local.runbook}function-rejected-spike.md)"
    links {
      display_name = "Runbook"
      url          = "${local.runbook}function-rejected-spike.md"
    }
  }
}

resource "google_monitoring_alert_policy" "drift_detected" {
  count = local.with_drift ? 1 : 0

  project               = var.project_id
  display_name          = "dataset drift detected (${var.env})"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.channels.p1
  user_labels           = merge(local.labels, { severity = "p1", runbook = "drift-detected", shadow = local.shadow })

  conditions {
    display_name = "a drift run found dataset drift"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.drift_detected[0].name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "3600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.function"]
      }
    }
  }

  alert_strategy {
    auto_close = "21600s" # the next run (every 6 h) decides again
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "[P1] mlops-events ${var.env}: dataset drift"
    content   = "A scheduled drift run found the dataset drifted (more than the drift share of its features). The report (HTML + JSON) is in the drift-logs bucket, the row in `ml_monitoring.drift_runs`, the Slack alert names the features.\n\nRunbook: [drift-detected](${local.runbook}drift-detected.md)"
    links {
      display_name = "Runbook"
      url          = "${local.runbook}drift-detected.md"
    }
  }
}

# -- dead letters: any message in a hold is an event that was not handled --------------------------
resource "google_monitoring_alert_policy" "dead_letters_waiting" {
  for_each = local.holds

  project               = var.project_id
  display_name          = "dead letters waiting: ${each.value} (${var.env})"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.channels.p1
  user_labels           = merge(local.labels, { severity = "p1", runbook = "dead-letters-waiting", shadow = local.shadow })

  conditions {
    display_name = "messages in ${each.value}"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${each.value}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }
  conditions {
    display_name = "oldest unacked message in ${each.value}"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${each.value}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "[P1] mlops-events ${var.env}: dead letters waiting in ${each.value}"
    content   = "Events ran out of delivery attempts and wait in `${each.value}` (kept 7 days, then lost). Find out why they failed, fix it, then redrive them: `mlops-events dead-letters list --cloud gcp` and `mlops-events dead-letters redrive`.\n\nRunbook: [dead-letters-waiting](${local.runbook}dead-letters-waiting.md)"
    links {
      display_name = "Runbook"
      url          = "${local.runbook}dead-letters-waiting.md"
    }
  }
}

resource "google_monitoring_alert_policy" "dead_letters_expiring" {
  for_each = local.holds

  project               = var.project_id
  display_name          = "dead letters expiring: ${each.value} (${var.env})"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = local.channels.p0
  user_labels           = merge(local.labels, { severity = "p0", runbook = "dead-letters-expiring", shadow = "false" })

  conditions {
    display_name = "oldest message in ${each.value} older than ${var.thresholds.dead_letter_age_s / 86400} days"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${each.value}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.thresholds.dead_letter_age_s
      duration        = "0s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "[P0] mlops-events ${var.env}: dead letters about to expire in ${each.value}"
    content   = "A dead letter has waited in `${each.value}` for days; Pub/Sub drops it at 7 days and the event is lost. Redrive or save it now.\n\nRunbook: [dead-letters-expiring](${local.runbook}dead-letters-expiring.md)"
    links {
      display_name = "Runbook"
      url          = "${local.runbook}dead-letters-expiring.md"
    }
  }
}

# -- schedules ---------------------------------------------------------------------------------------
resource "google_monitoring_alert_policy" "scheduler_job_failed" {
  count = length(local.scheduler_jobs) > 0 ? 1 : 0

  project               = var.project_id
  display_name          = "scheduler job failed (${var.env})"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.channels.p1
  user_labels           = merge(local.labels, { severity = "p1", runbook = "scheduler-job-failed", shadow = local.shadow })

  conditions {
    display_name = "ERROR entries of a Cloud Scheduler job (a failed attempt)"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/log_entry_count\" AND resource.type=\"cloud_scheduler_job\" AND metric.label.severity=\"ERROR\" AND resource.label.job_id=one_of(${join(", ", [for job in local.scheduler_jobs : "\"${job}\""])})"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.job_id"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "[P1] mlops-events ${var.env}: scheduler job $${resource.label.job_id} failed"
    content   = "A Cloud Scheduler attempt failed: the HTTP target answered an error or timed out, or publishing to the topic failed.\n\nRunbook: [scheduler-job-failed](${local.runbook}scheduler-job-failed.md)"
    links {
      display_name = "Runbook"
      url          = "${local.runbook}scheduler-job-failed.md"
    }
  }
}
