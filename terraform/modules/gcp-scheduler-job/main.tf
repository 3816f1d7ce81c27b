# One Cloud Scheduler job: publishes to a topic (the function's push subscription delivers it), or
# calls an HTTP function with an OIDC token of its own invoker.

locals {
  is_http    = var.http_target != null
  invoker_id = substr("sch-${replace(var.name, "_", "-")}", 0, 30)
}

resource "google_service_account" "invoker" {
  count = local.is_http ? 1 : 0

  project      = var.project_id
  account_id   = local.invoker_id
  display_name = "${var.name} scheduler invoker"
  description  = "Identity Cloud Scheduler calls ${var.name}'s HTTP function with."
}

resource "google_cloud_run_v2_service_iam_member" "invoker" {
  count = local.is_http ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = var.http_target.service_name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.invoker[0].email}"
}

resource "google_cloud_scheduler_job" "this" {
  project          = var.project_id
  region           = var.region
  name             = var.name
  description      = var.description
  schedule         = var.schedule
  time_zone        = var.time_zone
  attempt_deadline = local.is_http ? "${min(1800, max(15, var.attempt_deadline_s))}s" : null

  retry_config {
    # max_attempts counts the first attempt; Cloud Scheduler counts only the retries (0..5).
    retry_count          = max(0, min(5, var.retry.max_attempts - 1))
    min_backoff_duration = "${var.retry.min_backoff_s}s"
    max_backoff_duration = "${var.retry.max_backoff_s}s"
  }

  dynamic "pubsub_target" {
    for_each = var.pubsub_target == null ? [] : [var.pubsub_target]

    content {
      topic_name = pubsub_target.value.topic_id
      data       = base64encode(jsonencode(pubsub_target.value.payload))
      attributes = pubsub_target.value.attributes
    }
  }

  dynamic "http_target" {
    for_each = var.http_target == null ? [] : [var.http_target]

    content {
      uri         = http_target.value.uri
      http_method = http_target.value.http_method
      body        = http_target.value.body == null ? null : base64encode(jsonencode(http_target.value.body))
      headers     = merge({ "Content-Type" = "application/json" }, http_target.value.headers)

      oidc_token {
        service_account_email = google_service_account.invoker[0].email
        audience              = http_target.value.uri
      }
    }
  }

  lifecycle {
    precondition {
      condition     = (var.pubsub_target == null) != (var.http_target == null)
      error_message = "Set exactly one of pubsub_target and http_target."
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.invoker]
}
