output "log_metrics" {
  description = "Log-based metric types by role (logging.googleapis.com/user/...)."
  value = merge(
    {
      function_outcomes = "logging.googleapis.com/user/${google_logging_metric.function_outcomes.name}"
      function_latency  = "logging.googleapis.com/user/${google_logging_metric.function_latency.name}"
    },
    { for m in google_logging_metric.drift_detected : "drift_detected" => "logging.googleapis.com/user/${m.name}" },
  )
}

output "policies" {
  description = "Every alert policy: display name => { severity, runbook, shadow, channels (count) }."
  value = {
    for p in concat(
      [google_monitoring_alert_policy.function_error_rate, google_monitoring_alert_policy.function_rejected_spike],
      google_monitoring_alert_policy.drift_detected,
      values(google_monitoring_alert_policy.dead_letters_waiting),
      values(google_monitoring_alert_policy.dead_letters_expiring),
      google_monitoring_alert_policy.scheduler_job_failed,
      values(google_monitoring_alert_policy.inference_uptime),
      values(google_monitoring_alert_policy.inference_5xx),
      values(google_monitoring_alert_policy.inference_5xx_elevated),
      values(google_monitoring_alert_policy.inference_latency),
      values(google_monitoring_alert_policy.inference_memory),
      values(google_monitoring_alert_policy.inference_cpu),
      values(google_monitoring_alert_policy.inference_restarts),
      values(google_monitoring_alert_policy.inference_low_confidence),
      values(google_monitoring_alert_policy.inference_feedback_accuracy),
      ) : p.display_name => {
      severity = p.user_labels.severity
      runbook  = p.user_labels.runbook
      shadow   = p.user_labels.shadow == "true"
      url      = p.documentation[0].links[0].url
      channels = length(p.notification_channels)
    }
  }
}

output "notification_channels" {
  description = "Channel ids by severity (P1/P2 empty in shadow mode)."
  value       = local.channels
}

output "dead_letter_holds" {
  description = "The hold subscriptions watched (any message is an incident)."
  value       = sort(local.holds)
}
