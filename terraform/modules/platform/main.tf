# The whole platform of one environment, driven by functions/manifest.yaml: one function module per
# manifest entry, the topics and schedules its triggers name, the stores its adapters use, and the
# least-privilege grants each function's adapters need.

locals {
  manifest = yamldecode(file(var.manifest_path))

  gcp_functions = { for f in local.manifest.functions : f.name => f if f.platform == "gcp-function" }
  aws_functions = { for f in local.manifest.functions : f.name => f if f.platform == "aws-lambda" }

  labels = merge(var.labels, { app = "mlops-events", env = var.env })

  sources_bucket_name = coalesce(var.sources_bucket_name, "${var.project_id}-mlops-events-sources-${var.env}")

  # The budget module owns the topic Cloud Billing publishes to (budget_alert's trigger.topic).
  budget_topic = local.gcp_functions["budget_alert"].trigger.topic

  # Every other topic a trigger or a dead-letter policy names.
  trigger_topics = toset([
    for f in local.gcp_functions : f.trigger.topic
    if contains(["pubsub", "schedule"], f.trigger.kind) && try(f.trigger.topic, null) != null
  ])
  dead_letter_topics = toset([
    for f in local.gcp_functions : f.retry.dead_letter_topic
    if contains(["pubsub", "schedule"], f.trigger.kind) && try(f.retry.dead_letter_topic, null) != null
  ])
  own_topics = setsubtract(setunion(local.trigger_topics, local.dead_letter_topics), [local.budget_topic])

  topic_names = merge(
    { for name, topic in google_pubsub_topic.this : name => topic.name },
    { (local.budget_topic) = module.budget.topic_name },
  )
  topic_ids = merge(
    { for name, topic in google_pubsub_topic.this : name => topic.id },
    { (local.budget_topic) = module.budget.topic_id },
  )

  # Secret Manager secrets the GCP functions read (the Lambda's are in AWS Secrets Manager).
  secret_names = toset(flatten([for f in local.gcp_functions : [for s in f.secrets : s.name]]))

  scheduled = { for name, f in local.gcp_functions : name => f if contains(["schedule", "http"], f.trigger.kind) }
}

data "google_project" "this" {
  project_id = var.project_id
}

# -- stores ----------------------------------------------------------------------------------------
module "storage" {
  source = "../storage"

  project_id                  = var.project_id
  env                         = var.env
  location                    = var.region
  sources_bucket_name         = local.sources_bucket_name
  drift_report_retention_days = var.drift_report_retention_days
  kms_key_name                = var.kms_key_name
  labels                      = local.labels
}

module "registry" {
  source = "../registry"

  project_id             = var.project_id
  bigquery_location      = var.bigquery_location
  firestore_location     = var.firestore_location
  models_schema_path     = "${var.schemas_dir}/ml_registry.models.json"
  drift_runs_schema_path = "${var.schemas_dir}/ml_monitoring.drift_runs.json"
  kms_key_name           = var.kms_key_name
  labels                 = local.labels
}

# -- topics ----------------------------------------------------------------------------------------
resource "google_pubsub_topic" "this" {
  for_each = local.own_topics
  # checkov:skip=CKV_GCP_83:CMEK is optional (var.kms_key_name); messages are schedules and event references, no personal data.

  project                    = var.project_id
  name                       = each.value
  kms_key_name               = var.kms_key_name
  message_retention_duration = "604800s"
  labels                     = local.labels
}

# Pub/Sub's service agent forwards a message that ran out of attempts to its dead-letter topic.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local.dead_letter_topics

  project = var.project_id
  topic   = local.topic_names[each.value]
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# Dead letters are kept for a week to be read and replayed (`mlops-events replay`), not dropped.
resource "google_pubsub_subscription" "dead_letters" {
  for_each = local.dead_letter_topics

  project                    = var.project_id
  name                       = "${each.value}-hold"
  topic                      = local.topic_ids[each.value]
  message_retention_duration = "604800s"
  retain_acked_messages      = true
  ack_deadline_seconds       = 60
  labels                     = local.labels

  expiration_policy {
    ttl = ""
  }
}

# -- secrets: containers only; values are added out of band (gcloud secrets versions add), never in state
resource "google_secret_manager_secret" "this" {
  for_each = local.secret_names

  project   = var.project_id
  secret_id = each.value
  labels    = local.labels

  replication {
    auto {}
  }
}

# -- functions -------------------------------------------------------------------------------------
# GCS publishes its events to Pub/Sub as its service agent (Eventarc storage triggers).
data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

resource "google_project_iam_member" "gcs_pubsub_publisher" {
  count = anytrue([for f in local.gcp_functions : f.trigger.kind == "eventarc"]) ? 1 : 0

  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

module "function" {
  source   = "../gcp-function"
  for_each = local.gcp_functions

  project_id     = var.project_id
  region         = var.region
  env            = var.env
  name           = each.value.name
  description    = try(each.value.description, "")
  entry_point    = each.value.entry_point
  runtime        = try(each.value.runtime, "python311")
  source_dir     = "${var.bundles_dir}/${each.value.name}"
  sources_bucket = module.storage.sources_bucket
  timeout_s      = try(each.value.timeout_s, 60)
  memory         = try(each.value.memory, "256Mi")
  max_instances  = var.function_max_instances
  env_vars       = try(each.value.env, {})
  labels         = local.labels

  secrets = [
    for s in each.value.secrets : {
      name      = s.name
      env       = s.env
      secret_id = google_secret_manager_secret.this[s.name].secret_id
    }
  ]

  trigger = {
    kind        = each.value.trigger.kind
    event_types = try(each.value.trigger.event_types, [])
    filters     = try(each.value.trigger.filters, {})
    topic       = try(local.topic_names[each.value.trigger.topic], null)
  }

  retry = {
    policy            = each.value.retry.policy
    max_attempts      = try(each.value.retry.max_attempts, 5)
    min_backoff_s     = try(each.value.retry.min_backoff_s, 10)
    max_backoff_s     = try(each.value.retry.max_backoff_s, 600)
    dead_letter_topic = try(each.value.retry.dead_letter_topic, null)
  }
  dead_letter_topic_id = try(local.topic_ids[each.value.retry.dead_letter_topic], null)

  depends_on = [
    module.storage,
    module.registry,
    google_project_iam_member.gcs_pubsub_publisher,
    google_pubsub_topic_iam_member.dead_letter_publisher,
  ]
}

# -- schedules: Pub/Sub targets for kind schedule, OIDC HTTP targets for kind http -----------------
module "schedule" {
  source   = "../gcp-scheduler-job"
  for_each = local.scheduled

  project_id  = var.project_id
  region      = var.region
  name        = try(each.value.trigger.attributes.scheduler_job, replace(each.value.name, "_", "-"))
  description = try(each.value.description, "")
  schedule    = each.value.trigger.schedule
  time_zone   = try(each.value.trigger.time_zone, "Etc/UTC")

  # kind schedule: the push subscription retries (backoff, dead letter), so the job publishes once.
  # kind http (retry policy scheduler): Cloud Scheduler's own retries are the only ones.
  retry = each.value.trigger.kind == "http" ? {
    max_attempts  = try(each.value.retry.max_attempts, 1)
    min_backoff_s = try(each.value.retry.min_backoff_s, 5)
    max_backoff_s = try(each.value.retry.max_backoff_s, 3600)
  } : { max_attempts = 1, min_backoff_s = 5, max_backoff_s = 3600 }
  attempt_deadline_s = try(each.value.timeout_s, 180)

  pubsub_target = each.value.trigger.kind == "schedule" ? {
    topic_id   = local.topic_ids[each.value.trigger.topic]
    payload    = try(var.schedule_payloads[each.key], each.value.trigger.payload, {})
    attributes = try(each.value.trigger.attributes, {})
  } : null

  http_target = each.value.trigger.kind == "http" ? {
    uri          = module.function[each.key].uri
    service_name = module.function[each.key].service_name
    body         = try(var.schedule_payloads[each.key], each.value.trigger.payload, null)
  } : null
}

# -- budget ----------------------------------------------------------------------------------------
module "budget" {
  source = "../gcp-budget"

  project_id                  = var.project_id
  billing_account             = var.budget.billing_account
  display_name                = "mlops-events-${var.env}"
  amount                      = var.budget.amount
  currency_code               = var.budget.currency_code
  current_spend_thresholds    = var.budget.current_spend_thresholds
  forecasted_spend_thresholds = var.budget.forecasted_spend_thresholds
  scope_projects              = length(var.budget.scope_projects) > 0 ? var.budget.scope_projects : ["projects/${data.google_project.this.number}"]
  topic_name                  = local.budget_topic
  kms_key_name                = var.kms_key_name
}

# -- inference -------------------------------------------------------------------------------------
module "inference" {
  source = "../cloud-run-service"
  count  = var.inference == null ? 0 : 1

  project_id         = var.project_id
  region             = var.region
  env                = var.env
  image              = var.inference.image
  model_name         = var.inference.model_name
  min_instances      = var.inference.min_instances
  max_instances      = var.inference.max_instances
  cpu                = var.inference.cpu
  memory             = var.inference.memory
  inference_settings = var.inference.inference_settings
  invoker_members    = var.inference.invoker_members
  startup_probe_path = var.inference.startup_probe_path
  model_bucket       = module.storage.model_bucket
  monitoring_dataset = module.registry.monitoring_dataset_id
  labels             = local.labels
}

module "batch_job" {
  source = "../cloud-run-job"
  count  = var.batch_job == null ? 0 : 1

  project_id      = var.project_id
  region          = var.region
  env             = var.env
  image           = var.batch_job.image
  model_name      = var.batch_job.model_name
  input_uri       = var.batch_job.input_uri
  output_uri      = var.batch_job.output_uri
  extra_args      = var.batch_job.extra_args
  model_bucket    = module.storage.model_bucket
  input_buckets   = var.batch_job.input_buckets
  output_buckets  = var.batch_job.output_buckets
  input_datasets  = var.batch_job.input_datasets
  output_datasets = var.batch_job.output_datasets
  schedule        = var.batch_job.schedule
  labels          = local.labels
}

# -- AWS: the manifest's Lambda entries ------------------------------------------------------------
module "ecr_rollout" {
  source   = "../aws-ecr-rollout"
  for_each = local.aws_functions

  env                  = var.env
  function             = each.value
  bundle_dir           = "${var.bundles_dir}/${each.value.name}"
  repositories         = var.aws.repositories
  rollout_targets_yaml = var.aws.rollout_targets_yaml
  log_retention_days   = var.aws.log_retention_days
  tags                 = local.labels
}
