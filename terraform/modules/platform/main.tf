# The GCP side of one environment, driven by functions/manifest.yaml: one function module per
# gcp-function entry, the topics and schedules its triggers name, the stores its adapters use, and the
# least-privilege grants each function's adapters need. The manifest's aws-lambda entries are the
# aws-platform module's, in a root and a state of their own (no AWS credentials for a GCP plan).

locals {
  manifest = yamldecode(file(var.manifest_path))
  # The manifest's entries less those this environment leaves out (var.disabled_functions).
  functions = [for f in local.manifest.functions : f if !contains(var.disabled_functions, f.name)]

  gcp_functions = { for f in local.functions : f.name => f if f.platform == "gcp-function" }

  labels = merge(var.labels, { app = "mlops-events", env = var.env })

  sources_bucket_name = coalesce(var.sources_bucket_name, "${var.project_id}-mlops-events-sources-${var.env}")

  # Bucket names are global: each is prefixed (var.bucket_prefix, the project id by default). A
  # manifest value naming a bucket pattern (an env value, a trigger filter) is given the prefixed
  # pattern; {env} stays in it for the code (or the function module's filters) to resolve.
  bucket_prefix   = var.bucket_prefix == null ? "${var.project_id}-" : var.bucket_prefix
  bucket_patterns = module.storage.bucket_patterns

  # The budget publishes to var.budget_function's trigger topic; without that function (left out of
  # the manifest or disabled) there is no budget topic, and no budget.
  budget_topic = try(local.gcp_functions[var.budget_function].trigger.topic, null)
  with_budget  = local.budget_topic != null && var.budget != null

  # The model bucket is versioned: deleting (or overwriting) a live object makes it noncurrent, and
  # GCS sends google.cloud.storage.object.v1.archived, not deleted (deleted comes only when a
  # noncurrent version is removed for good). A function listening for deletions hears archived too.
  archived_too = {
    for name, f in local.gcp_functions : name => (
      contains(try(f.trigger.event_types, []), "google.cloud.storage.object.v1.deleted")
      ? ["google.cloud.storage.object.v1.archived"] : []
    )
  }

  # Every other topic a trigger or a dead-letter policy names.
  trigger_topics = toset([
    for f in local.gcp_functions : f.trigger.topic
    if contains(["pubsub", "schedule"], f.trigger.kind) && try(f.trigger.topic, null) != null
  ])
  dead_letter_topics = toset([
    for f in local.gcp_functions : f.retry.dead_letter_topic
    if contains(["pubsub", "schedule"], f.trigger.kind) && try(f.retry.dead_letter_topic, null) != null
  ])
  own_topics = setsubtract(setunion(local.trigger_topics, local.dead_letter_topics), local.with_budget ? [local.budget_topic] : [])

  topic_names = merge(
    { for name, topic in google_pubsub_topic.this : name => topic.name },
    { for budget in module.budget : local.budget_topic => budget.topic_name },
  )
  topic_ids = merge(
    { for name, topic in google_pubsub_topic.this : name => topic.id },
    { for budget in module.budget : local.budget_topic => budget.topic_id },
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
  name_prefix                 = local.bucket_prefix
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

# Cloud Build builds every function as this identity (build_config.service_account): projects
# created since mid-2024 no longer let the default compute account build. It writes build logs and
# the image (gcf-artifacts, which Cloud Functions creates), and reads the zipped sources.
resource "google_service_account" "build" {
  count = length(local.gcp_functions) > 0 ? 1 : 0

  project      = var.project_id
  account_id   = "fn-build-${var.env}"
  display_name = "mlops-events function builds (${var.env})"
  description  = "Cloud Build identity of the functions: build logs, the function images, the sources bucket (read)."
}

resource "google_project_iam_member" "build" {
  for_each = toset(length(local.gcp_functions) > 0 ? ["roles/logging.logWriter", "roles/artifactregistry.writer"] : [])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.build[0].email}"
}

resource "google_storage_bucket_iam_member" "build_sources" {
  count = length(local.gcp_functions) > 0 ? 1 : 0

  bucket = module.storage.sources_bucket
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.build[0].email}"
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
  env_vars       = { for key, value in try(each.value.env, {}) : key => lookup(local.bucket_patterns, value, value) }
  labels         = local.labels

  build_service_account = "projects/${var.project_id}/serviceAccounts/${google_service_account.build[0].email}"
  # What the first build and the first Eventarc trigger need to exist. Passed as values, not a
  # module-level depends_on, which would defer the module's reads to apply and plan every function
  # as changed whenever a grant does.
  prerequisites = concat(
    [for grant in google_project_iam_member.build : grant.id],
    google_storage_bucket_iam_member.build_sources[*].id,
    google_project_iam_member.gcs_pubsub_publisher[*].id,
  )

  secrets = [
    for s in each.value.secrets : {
      name      = s.name
      env       = s.env
      secret_id = google_secret_manager_secret.this[s.name].secret_id
    }
  ]

  trigger = {
    kind        = each.value.trigger.kind
    event_types = distinct(concat(try(each.value.trigger.event_types, []), local.archived_too[each.key]))
    filters     = { for key, value in try(each.value.trigger.filters, {}) : key => lookup(local.bucket_patterns, value, value) }
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
  count  = local.with_budget ? 1 : 0

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
  prometheus_sidecar = var.inference.prometheus_sidecar
  model_bucket       = module.storage.model_bucket
  bucket_pattern     = local.bucket_patterns[module.storage.model_bucket_pattern]
  monitoring_dataset = module.registry.monitoring_dataset_id
  predictions_table  = module.registry.predictions_table
  predictions_bucket = module.storage.predictions_bucket
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
  bucket_pattern  = local.bucket_patterns[module.storage.model_bucket_pattern]
  input_buckets   = var.batch_job.input_buckets
  output_buckets  = var.batch_job.output_buckets
  input_datasets  = var.batch_job.input_datasets
  output_datasets = var.batch_job.output_datasets
  schedule        = var.batch_job.schedule
  task_count      = var.batch_job.task_count
  parallelism     = var.batch_job.parallelism
  labels          = local.labels
}
