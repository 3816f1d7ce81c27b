# The prod environment, GCP side (terraform/environment/gcp). Placeholders: no secrets and no real ids
# belong here (CI gives the real project with -var project_id=...). Secret values are added with
# `gcloud secrets versions add slack-webhook --data-file=-` after the first apply.
env        = "prod"
project_id = "mlops-events-prod-000000"
region     = "europe-west1"

budget = {
  billing_account = "000000-000000-000000"
  amount          = 3000
}

# The manifest's drift payload is the dev demo's: this environment's jobs read its own data.
# drift_report_http's Cloud Scheduler job posts this body. Bucket names carry the project id (bucket_prefix).
schedule_payloads = {
  drift_report = {
    model     = "fraud-detector"
    env       = "prod"
    reference = { uri = "gs://mlops-events-prod-000000-ml-drift-prod/fraud-detector/reference/*.parquet" }
    current   = { uri = "gs://mlops-events-prod-000000-ml-drift-prod/fraud-detector/current/*.parquet", timestamp_column = "event_time", window_hours = 24 }
  }
  drift_report_http = {
    model     = "fraud-detector"
    env       = "prod"
    reference = { uri = "gs://mlops-events-prod-000000-ml-drift-prod/fraud-detector/reference/*.parquet" }
    current   = { uri = "gs://mlops-events-prod-000000-ml-drift-prod/fraud-detector/current/*.parquet", timestamp_column = "event_time", window_hours = 24 }
  }
}

# Uncomment once the inference image is pushed (pin it by digest).
# inference = {
#   image      = "europe-west1-docker.pkg.dev/mlops-events-prod-000000/ml/inference@sha256:..."
#   model_name = "fraud-detector"
# }

# Alerts (terraform/modules/monitoring, runbooks in docs/runbooks/): P0 always notifies; P1/P2 notify
# nobody while shadow mode is on. Slack goes through monitoring_alert; PagerDuty, if any: the channel
# id made from the key in Secret Manager (pagerduty_channel_id; docs/runbooks/pagerduty-channel.md).
monitoring_shadow_mode = false
alert_email            = "mlops-oncall-prod@example.com"
