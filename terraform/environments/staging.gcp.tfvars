# The staging environment, GCP side (terraform/environment/gcp). Placeholders: no secrets and no real ids
# belong here (CI gives the real project with -var project_id=...). Secret values are added with
# `gcloud secrets versions add slack-webhook --data-file=-` after the first apply.
env        = "staging"
project_id = "mlops-events-staging-000000"
region     = "europe-west1"

budget = {
  billing_account = "000000-000000-000000"
  amount          = 500
}

# The manifest's drift payload is the dev demo's: this environment's jobs read its own data.
# drift_report_http's Cloud Scheduler job posts this body. Bucket names carry the project id (bucket_prefix).
schedule_payloads = {
  drift_report = {
    model     = "fraud-detector"
    env       = "staging"
    reference = { uri = "gs://mlops-events-staging-000000-ml-drift-staging/fraud-detector/reference/*.parquet" }
    current   = { uri = "gs://mlops-events-staging-000000-ml-drift-staging/fraud-detector/current/*.parquet", timestamp_column = "event_time", window_hours = 24 }
  }
  drift_report_http = {
    model     = "fraud-detector"
    env       = "staging"
    reference = { uri = "gs://mlops-events-staging-000000-ml-drift-staging/fraud-detector/reference/*.parquet" }
    current   = { uri = "gs://mlops-events-staging-000000-ml-drift-staging/fraud-detector/current/*.parquet", timestamp_column = "event_time", window_hours = 24 }
  }
}

# Uncomment once the inference image is pushed (pin it by digest).
# inference = {
#   image      = "europe-west1-docker.pkg.dev/mlops-events-staging-000000/ml/inference@sha256:..."
#   model_name = "fraud-detector"
# }

# Alerts (terraform/modules/monitoring, runbooks in docs/runbooks/): P0 always notifies; P1/P2 notify
# nobody while shadow mode is on. Slack goes through monitoring_alert; PagerDuty, if any: the channel
# id made from the key in Secret Manager (pagerduty_channel_id; docs/runbooks/pagerduty-channel.md).
monitoring_shadow_mode = true
alert_email            = "mlops-oncall-staging@example.com"
