# terraform test: Cloud Scheduler jobs with a Pub/Sub target and with an HTTP (OIDC) target.

mock_provider "google" {
  source = "../../tests/mocks/google"
}

variables {
  project_id = "mlops-events-test-000000"
  region     = "europe-west1"
  schedule   = "0 */6 * * *"
}

run "pubsub_target" {
  variables {
    name = "drift-report"
    pubsub_target = {
      topic_id   = "projects/mlops-events-test-000000/topics/drift-report"
      payload    = { model = "fraud-detector", current = { window_hours = 24 } }
      attributes = { scheduler_job = "drift-report" }
    }
  }

  assert {
    condition     = jsondecode(base64decode(google_cloud_scheduler_job.this.pubsub_target[0].data)).current.window_hours == 24
    error_message = "The payload is sent as JSON with its types."
  }
  assert {
    condition     = google_cloud_scheduler_job.this.retry_config[0].retry_count == 0 && length(google_service_account.invoker) == 0
    error_message = "A Pub/Sub target publishes once (the subscription retries) and needs no invoker."
  }
}

run "http_target" {
  variables {
    name  = "drift-report-http"
    retry = { max_attempts = 3, min_backoff_s = 60, max_backoff_s = 600 }
    http_target = {
      uri          = "https://drift-report-http-7x2kq4lqpa-ew.a.run.app"
      service_name = "drift-report-http"
      body         = { model = "fraud-detector" }
    }
  }

  assert {
    condition     = google_cloud_scheduler_job.this.http_target[0].oidc_token[0].audience == var.http_target.uri
    error_message = "OIDC token for the function's URI."
  }
  assert {
    condition     = google_cloud_run_v2_service_iam_member.invoker[0].name == "drift-report-http" && google_cloud_run_v2_service_iam_member.invoker[0].role == "roles/run.invoker"
    error_message = "The job's identity invokes that one service."
  }
  assert {
    condition     = google_cloud_scheduler_job.this.retry_config[0].retry_count == 2
    error_message = "max_attempts counts the first attempt."
  }
}
