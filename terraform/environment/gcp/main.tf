# The GCP root of every environment: the google provider and the platform module. What differs per
# environment is in terraform/environments/<env>.gcp.tfvars (values) and <env>.gcp.tfbackend (where
# its state lives); the AWS side is ../aws, a root and a state of its own: a GCP plan needs no AWS
# credentials.

provider "google" {
  project = var.project_id
  region  = var.region
  # Quota and billing of API calls go to this project, not to the caller's: user credentials (gcloud
  # auth application-default login) are otherwise refused by the Billing Budgets API (403).
  billing_project       = coalesce(var.billing_project, var.project_id)
  user_project_override = true
}

locals {
  repository_root = "${path.root}/../../.."
}

module "platform" {
  source = "../../modules/platform"

  project_id         = var.project_id
  region             = var.region
  env                = var.env
  manifest_path      = "${local.repository_root}/functions/manifest.yaml"
  schemas_dir        = "${local.repository_root}/shared/schemas"
  bundles_dir        = coalesce(var.bundles_dir, "${local.repository_root}/dist")
  bucket_prefix      = var.bucket_prefix
  disabled_functions = var.disabled_functions
  bigquery_location  = var.bigquery_location
  firestore_location = var.firestore_location
  kms_key_name       = var.kms_key_name
  schedule_payloads  = var.schedule_payloads
  budget             = var.budget
  inference          = var.inference
  batch_job          = var.batch_job
  labels             = var.labels
}

# Alert policies, log-based metrics and notification channels (issue 18); runbooks in docs/runbooks/.
module "monitoring" {
  source = "../../modules/monitoring"

  project_id             = var.project_id
  env                    = var.env
  manifest_path          = "${local.repository_root}/functions/manifest.yaml"
  disabled_functions     = var.disabled_functions
  topic_ids              = module.platform.topics
  notification_email     = var.alert_email
  pagerduty_channel_id   = var.pagerduty_channel_id
  monitoring_shadow_mode = var.monitoring_shadow_mode
  # The platform deploys the service under the cloud-run-service module's default name.
  inference_service = var.inference == null ? null : { name = "inference", region = var.region }
  labels            = var.labels
}
