# The inference service on Cloud Run: Cloud Run's own metrics (requests, latencies, memory, CPU), an
# authenticated uptime check on /healthz, container exits from its system log, and the service's
# Prometheus metrics (prediction confidence, feedback accuracy) through Managed Service for Prometheus,
# queried with PromQL. Nothing here when var.inference_service is null.

locals {
  inference     = var.inference_service == null ? {} : { service = var.inference_service }
  run_resource  = var.inference_service == null ? "" : "resource.type=\"cloud_run_revision\" AND resource.label.service_name=\"${var.inference_service.name}\""
  monitoring_sa = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-monitoring-notification.iam.gserviceaccount.com"
}

# The service is never public: the uptime check calls it with an OIDC token of the Monitoring service
# agent, which may invoke it.
resource "google_cloud_run_v2_service_iam_member" "uptime_invoker" {
  for_each = local.inference

  project  = var.project_id
  location = each.value.region
  name     = each.value.name
  role     = "roles/run.invoker"
  member   = local.monitoring_sa
}

resource "google_monitoring_uptime_check_config" "inference" {
  for_each = local.inference

  project      = var.project_id
  display_name = "inference /healthz (${var.env})"
  timeout      = "10s"
  period       = "60s"
  user_labels  = local.labels

  http_check {
    path           = "/healthz"
    port           = 443
    use_ssl        = true
    validate_ssl   = true
    request_method = "GET"
    service_agent_authentication {
      type = "OIDC_TOKEN"
    }
    accepted_response_status_codes {
      status_class = "STATUS_CLASS_2XX"
    }
  }

  monitored_resource {
    type = "cloud_run_revision"
    labels = {
      project_id   = var.project_id
      service_name = each.value.name
      location     = each.value.region
    }
  }
}

resource "google_monitoring_alert_policy" "inference_uptime" {
  for_each = local.inference

  project               = var.project_id
  display_name          = "inference uptime (${var.env})"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = local.channels.p0
  user_labels           = merge(local.labels, { severity = "p0", runbook = "inference-uptime", shadow = "false" })

  conditions {
    display_name = "/healthz fails from more than one region"
    condition_threshold {
      filter          = "metric.type=\"monitoring.googleapis.com/uptime_check/check_passed\" AND resource.type=\"cloud_run_revision\" AND metric.label.check_id=\"${google_monitoring_uptime_check_config.inference[each.key].uptime_check_id}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 1
      duration        = "120s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_NEXT_OLDER"
        cross_series_reducer = "REDUCE_COUNT_FALSE"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "[P0] mlops-events ${var.env}: inference service down"
    content   = "The uptime check's authenticated GET /healthz on the Cloud Run service `${each.value.name}` fails from several regions: clients get no predictions.\n\nRunbook: [inference-uptime](${local.runbook}inference-uptime.md)"
    links {
      display_name = "Runbook"
      url          = "${local.runbook}inference-uptime.md"
    }
  }
}

resource "google_monitoring_alert_policy" "inference_5xx" {
  for_each = local.inference

  project               = var.project_id
  display_name          = "inference 5xx > ${var.thresholds.inference_5xx_p0 * 100}% (${var.env})"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = local.channels.p0
  user_labels           = merge(local.labels, { severity = "p0", runbook = "inference-5xx", shadow = "false" })

  conditions {
    display_name = "5xx share of requests, 5 min"
    condition_threshold {
      filter             = "metric.type=\"run.googleapis.com/request_count\" AND ${local.run_resource} AND metric.label.response_code_class=\"5xx\""
      denominator_filter = "metric.type=\"run.googleapis.com/request_count\" AND ${local.run_resource}"
      comparison         = "COMPARISON_GT"
      threshold_value    = var.thresholds.inference_5xx_p0
      duration           = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "[P0] mlops-events ${var.env}: inference 5xx over ${var.thresholds.inference_5xx_p0 * 100}%"
    content   = "More than ${var.thresholds.inference_5xx_p0 * 100}% of the inference service's requests fail with 5xx for 5 minutes.\n\nRunbook: [inference-5xx](${local.runbook}inference-5xx.md)"
    links {
      display_name = "Runbook"
      url          = "${local.runbook}inference-5xx.md"
    }
  }
}

resource "google_monitoring_alert_policy" "inference_5xx_elevated" {
  for_each = local.inference

  project               = var.project_id
  display_name          = "inference 5xx > ${var.thresholds.inference_5xx_p2 * 100}% (${var.env})"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.channels.p2
  user_labels           = merge(local.labels, { severity = "p2", runbook = "inference-5xx", shadow = local.shadow })

  conditions {
    display_name = "5xx share of requests, 15 min"
    condition_threshold {
      filter             = "metric.type=\"run.googleapis.com/request_count\" AND ${local.run_resource} AND metric.label.response_code_class=\"5xx\""
      denominator_filter = "metric.type=\"run.googleapis.com/request_count\" AND ${local.run_resource}"
      comparison         = "COMPARISON_GT"
      threshold_value    = var.thresholds.inference_5xx_p2
      duration           = "900s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "[P2] mlops-events ${var.env}: inference 5xx over ${var.thresholds.inference_5xx_p2 * 100}%"
    content   = "More than ${var.thresholds.inference_5xx_p2 * 100}% of the inference service's requests fail with 5xx for 15 minutes (below the P0 line).\n\nRunbook: [inference-5xx](${local.runbook}inference-5xx.md)"
    links {
      display_name = "Runbook"
      url          = "${local.runbook}inference-5xx.md"
    }
  }
}

resource "google_monitoring_alert_policy" "inference_latency" {
  for_each = local.inference

  project               = var.project_id
  display_name          = "inference p95 latency > ${var.thresholds.inference_p95_ms / 1000} s (${var.env})"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = local.channels.p1
  user_labels           = merge(local.labels, { severity = "p1", runbook = "inference-latency", shadow = local.shadow })

  conditions {
    display_name = "p95 request latency, 5 min"
    condition_threshold {
      filter          = "metric.type=\"run.googleapis.com/request_latencies\" AND ${local.run_resource}"
      comparison      = "COMPARISON_GT"
      threshold_value = var.thresholds.inference_p95_ms
      duration        = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_95"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "[P1] mlops-events ${var.env}: inference p95 latency over ${var.thresholds.inference_p95_ms / 1000} s"
    content   = "The inference service's 95th percentile request latency is over ${var.thresholds.inference_p95_ms} ms for 5 minutes.\n\nRunbook: [inference-latency](${local.runbook}inference-latency.md)"
    links {
      display_name = "Runbook"
      url          = "${local.runbook}inference-latency.md"
    }
  }
}

resource "google_monitoring_alert_policy" "inference_memory" {
  for_each = local.inference

  project               = var.project_id
  display_name          = "inference memory > ${var.thresholds.inference_memory * 100}% (${var.env})"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = local.channels.p0
  user_labels           = merge(local.labels, { severity = "p0", runbook = "inference-memory", shadow = "false" })

  conditions {
    display_name = "container memory utilization (p99 of instances), 5 min"
    condition_threshold {
      filter          = "metric.type=\"run.googleapis.com/container/memory/utilizations\" AND ${local.run_resource}"
      comparison      = "COMPARISON_GT"
      threshold_value = var.thresholds.inference_memory
      duration        = "300s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_PERCENTILE_99"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "[P0] mlops-events ${var.env}: inference memory over ${var.thresholds.inference_memory * 100}%"
    content   = "The inference containers use more than ${var.thresholds.inference_memory * 100}% of their memory limit: the next model load or large batch is killed (OOM), and requests fail.\n\nRunbook: [inference-memory](${local.runbook}inference-memory.md)"
    links {
      display_name = "Runbook"
      url          = "${local.runbook}inference-memory.md"
    }
  }
}

resource "google_monitoring_alert_policy" "inference_cpu" {
  for_each = local.inference

  project               = var.project_id
  display_name          = "inference CPU > ${var.thresholds.inference_cpu * 100}% (${var.env})"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.channels.p2
  user_labels           = merge(local.labels, { severity = "p2", runbook = "inference-cpu", shadow = local.shadow })

  conditions {
    display_name = "container CPU utilization (p99 of instances), 10 min"
    condition_threshold {
      filter          = "metric.type=\"run.googleapis.com/container/cpu/utilizations\" AND ${local.run_resource}"
      comparison      = "COMPARISON_GT"
      threshold_value = var.thresholds.inference_cpu
      duration        = "600s"
      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_PERCENTILE_99"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "[P2] mlops-events ${var.env}: inference CPU over ${var.thresholds.inference_cpu * 100}%"
    content   = "The inference containers run above ${var.thresholds.inference_cpu * 100}% CPU for 10 minutes: latency follows, and autoscaling may be capped by max_instances.\n\nRunbook: [inference-cpu](${local.runbook}inference-cpu.md)"
    links {
      display_name = "Runbook"
      url          = "${local.runbook}inference-cpu.md"
    }
  }
}

# Cloud Run has no restart counter: a container that exits or fails its startup probe writes an ERROR
# entry to the revision's system log (run.googleapis.com/varlog/system), counted by log_entry_count.
resource "google_monitoring_alert_policy" "inference_restarts" {
  for_each = local.inference

  project               = var.project_id
  display_name          = "inference instance restarts (${var.env})"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = local.channels.p0
  user_labels           = merge(local.labels, { severity = "p0", runbook = "inference-restarts", shadow = "false" })

  conditions {
    display_name = "more than ${var.thresholds.inference_restarts} container exits or failed probes in 10 min"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/log_entry_count\" AND ${local.run_resource} AND metric.label.log=\"run.googleapis.com/varlog/system\" AND metric.label.severity=\"ERROR\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.thresholds.inference_restarts
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "[P0] mlops-events ${var.env}: inference instances crash"
    content   = "Inference containers exit or fail their startup probe repeatedly (a crash loop): a bad image or model, a missing setting, or memory.\n\nRunbook: [inference-restarts](${local.runbook}inference-restarts.md)"
    links {
      display_name = "Runbook"
      url          = "${local.runbook}inference-restarts.md"
    }
  }
}

# The service's Prometheus metrics (mlops_inference/metrics.py) reach Cloud Monitoring through Managed
# Service for Prometheus: a collector sidecar on the Cloud Run service scrapes /metrics. PromQL names
# them as the service does. Metric validation is off: the series exist only once the service serves.
resource "google_monitoring_alert_policy" "inference_low_confidence" {
  for_each = local.inference

  project               = var.project_id
  display_name          = "inference low prediction confidence (${var.env})"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.channels.p1
  user_labels           = merge(local.labels, { severity = "p1", runbook = "inference-low-confidence", shadow = local.shadow })

  conditions {
    display_name = "share of recent predictions under the confidence threshold > ${var.thresholds.low_confidence_share * 100}%"
    condition_prometheus_query_language {
      query                     = "max by (model, version) (inference_low_confidence_share) > ${var.thresholds.low_confidence_share}"
      duration                  = "900s"
      evaluation_interval       = "60s"
      disable_metric_validation = true
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "[P1] mlops-events ${var.env}: low prediction confidence"
    content   = "More than ${var.thresholds.low_confidence_share * 100}% of a model version's last 1,000 predictions had a top-class probability under the service's threshold (INFERENCE_CONFIDENCE_THRESHOLD, 0.7): the inputs moved away from what the model knows, or a bad version is served.\n\nRunbook: [inference-low-confidence](${local.runbook}inference-low-confidence.md)"
    links {
      display_name = "Runbook"
      url          = "${local.runbook}inference-low-confidence.md"
    }
  }
}

resource "google_monitoring_alert_policy" "inference_feedback_accuracy" {
  for_each = local.inference

  project               = var.project_id
  display_name          = "inference feedback accuracy < ${var.thresholds.feedback_accuracy_min * 100}% (${var.env})"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = local.channels.p2
  user_labels           = merge(local.labels, { severity = "p2", runbook = "inference-feedback-accuracy", shadow = local.shadow })

  conditions {
    display_name = "accuracy of labelled feedback under ${var.thresholds.feedback_accuracy_min * 100}% (at least ${var.thresholds.feedback_min_labels} labels)"
    condition_prometheus_query_language {
      query                     = "(min by (model, version) (inference_feedback_accuracy) < ${var.thresholds.feedback_accuracy_min}) and on (model, version) (max by (model, version) (inference_feedback_labels) >= ${var.thresholds.feedback_min_labels})"
      duration                  = "3600s"
      evaluation_interval       = "300s"
      disable_metric_validation = true
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "[P2] mlops-events ${var.env}: feedback accuracy under ${var.thresholds.feedback_accuracy_min * 100}%"
    content   = "The labels sent back through the feedback endpoint agree with the model's predictions less than ${var.thresholds.feedback_accuracy_min * 100}% of the time for an hour, over at least ${var.thresholds.feedback_min_labels} labels joined to the predictions the service captured (`inference_feedback_accuracy`, `inference_feedback_labels`).\n\nRunbook: [inference-feedback-accuracy](${local.runbook}inference-feedback-accuracy.md)"
    links {
      display_name = "Runbook"
      url          = "${local.runbook}inference-feedback-accuracy.md"
    }
  }
}
