# One Cloud Functions gen2 function from one manifest entry: its source zip, its own service account,
# its trigger (Eventarc for GCS, an own push subscription for Pub/Sub and schedules, none for HTTP).

locals {
  # Gen2 names: lowercase letters, digits and hyphens.
  function_name = replace(var.name, "_", "-")
  # Service account ids: 6 to 30 characters.
  account_id = substr("fn-${local.function_name}", 0, 30)
  invoker_id = substr("inv-${local.function_name}", 0, 30)

  is_storage = var.trigger.kind == "eventarc"
  is_push    = contains(["pubsub", "schedule"], var.trigger.kind)
  # Cloud Scheduler's HTTP jobs bring their own invoker (gcp-scheduler-job module).
  needs_invoker = local.is_storage || local.is_push

  environment = merge(
    # Verbatim: {env} in a value is a pattern the code resolves per event (MLOPS_EVENTS_BUCKET_PATTERN
    # must keep its one {env}, or shared/config.py refuses to start).
    var.env_vars,
    # Every Settings field is MLOPS_EVENTS_<FIELD> (shared/config.py).
    {
      MLOPS_EVENTS_PROFILE     = "cloud"
      MLOPS_EVENTS_GCP_PROJECT = var.project_id
    },
    # The secret's id, not its value: shared/adapters/secrets.py reads the latest version at run time
    # (cached 5 minutes), so a rotation needs no redeploy and no value lands in Terraform state.
    { for secret in var.secrets : secret.env => secret.secret_id },
  )

  # Pub/Sub allows 5..100 delivery attempts; a manifest asking fewer gets 5.
  max_delivery_attempts = min(100, max(5, var.retry.max_attempts))
  # Pub/Sub's backoff lies between 0 and 600 s.
  min_backoff_s = min(600, max(0, var.retry.min_backoff_s))
  max_backoff_s = min(600, max(local.min_backoff_s, var.retry.max_backoff_s))
  # The ack deadline covers one whole run (Pub/Sub allows 10..600 s).
  ack_deadline_s = min(600, max(10, var.timeout_s))
}

data "google_project" "this" {
  project_id = var.project_id
}

# -- source: the deploy bundle, named by its content hash so a code change redeploys -------------------
# The zip `mlops-events build` wrote beside the bundle (dist/<name>.zip: reproducible, the artifact the
# bundle tests ran), read as it is: Terraform writes no archive of its own (none under .terraform/),
# the hash is known when planning, so an unchanged bundle plans no change, and a saved plan applies
# wherever the same dist/ is.
locals {
  source_zip = "${var.source_dir}.zip"
}

resource "google_storage_bucket_object" "source" {
  bucket = var.sources_bucket
  name   = "${var.name}/${filemd5(local.source_zip)}.zip"
  source = local.source_zip
}

# -- identities ------------------------------------------------------------------------------------
resource "google_service_account" "function" {
  project      = var.project_id
  account_id   = local.account_id
  display_name = "${var.name} (${var.env}) function"
  description  = "Runs ${var.name}; holds only the roles its adapters use (platform module)."
}

resource "google_service_account" "invoker" {
  count = local.needs_invoker ? 1 : 0

  project      = var.project_id
  account_id   = local.invoker_id
  display_name = "${var.name} (${var.env}) invoker"
  description  = "Identity Eventarc or the push subscription uses to call ${var.name}."
}

# -- the function ----------------------------------------------------------------------------------
resource "google_cloudfunctions2_function" "this" {
  project     = var.project_id
  location    = var.region
  name        = local.function_name
  description = var.description
  labels      = merge(var.labels, { function = local.function_name, env = var.env })

  build_config {
    runtime     = var.runtime
    entry_point = var.entry_point
    # Projects created since mid-2024 build as the default compute service account, which no longer
    # holds build permissions: an own build identity (platform module: log writer, Artifact Registry
    # writer, reader of the sources bucket) makes the first deploy work on any project.
    service_account = var.build_service_account

    source {
      storage_source {
        bucket = var.sources_bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory               = var.memory
    timeout_seconds                = var.timeout_s
    max_instance_count             = var.max_instances
    min_instance_count             = var.min_instances
    ingress_settings               = var.ingress_settings
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.function.email
    environment_variables          = local.environment
  }

  # GCS events: the first event type here; each further one gets its own Eventarc trigger below.
  dynamic "event_trigger" {
    for_each = local.is_storage ? [var.trigger.event_types[0]] : []

    content {
      trigger_region        = var.region
      event_type            = event_trigger.value
      retry_policy          = var.retry.policy == "retry_on_failure" ? "RETRY_POLICY_RETRY" : "RETRY_POLICY_DO_NOT_RETRY"
      service_account_email = google_service_account.invoker[0].email

      dynamic "event_filters" {
        for_each = var.trigger.filters

        content {
          attribute = event_filters.key
          value     = replace(event_filters.value, "{env}", var.env)
        }
      }
    }
  }

  # The build identity's roles and the GCS service agent's publisher role must exist before the
  # first build and the first Eventarc trigger (var.prerequisites); the secret accessors before the
  # first instance reads a secret.
  depends_on = [google_secret_manager_secret_iam_member.access, terraform_data.prerequisites]
}

# Grants made outside this module that the function's build and triggers need first. A resource of
# its own, so that the ordering reaches only the function: a module-level depends_on would defer every
# read in the module (the project lookup) to apply time whenever a prerequisite changes, and the
# function and its subscriptions would plan as changed with it.
resource "terraform_data" "prerequisites" {
  input = var.prerequisites
}

# -- trigger: GCS event types beyond the first -----------------------------------------------------
resource "google_eventarc_trigger" "more" {
  # Eventarc's first trigger in a project can fail while its service agent's roles propagate (a few
  # minutes): README, Deploy, first apply in two steps.
  for_each = local.is_storage ? toset(slice(var.trigger.event_types, 1, length(var.trigger.event_types))) : toset([])

  project         = var.project_id
  location        = var.region
  name            = substr("${local.function_name}-${replace(element(split(".", each.value), length(split(".", each.value)) - 1), "_", "-")}", 0, 63)
  service_account = google_service_account.invoker[0].email
  labels          = merge(var.labels, { function = local.function_name, env = var.env })

  matching_criteria {
    attribute = "type"
    value     = each.value
  }

  dynamic "matching_criteria" {
    for_each = var.trigger.filters

    content {
      attribute = matching_criteria.key
      value     = replace(matching_criteria.value, "{env}", var.env)
    }
  }

  destination {
    cloud_run_service {
      service = google_cloudfunctions2_function.this.service_config[0].service
      region  = var.region
    }
  }
}

# Eventarc's receiver role is only grantable on the project.
resource "google_project_iam_member" "event_receiver" {
  count = local.is_storage ? 1 : 0

  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = "serviceAccount:${google_service_account.invoker[0].email}"
}

# The invoker may call this function's Cloud Run service, and nothing else.
resource "google_cloud_run_v2_service_iam_member" "invoker" {
  count = local.needs_invoker ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.this.service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.invoker[0].email}"
}

# -- trigger: Pub/Sub and schedules, through an own push subscription ------------------------------
# Not Eventarc: only an own subscription honours the manifest's backoff and dead-letter topic.
# functions-framework turns the raw push body into the messagePublished CloudEvent, reading the topic
# from the request path projects/P/topics/T, hence the push endpoint's path.
resource "google_pubsub_subscription" "push" {
  count = local.is_push ? 1 : 0

  project                    = var.project_id
  name                       = "${local.function_name}-push"
  topic                      = "projects/${var.project_id}/topics/${var.trigger.topic}"
  ack_deadline_seconds       = local.ack_deadline_s
  message_retention_duration = "604800s"
  labels                     = merge(var.labels, { function = local.function_name, env = var.env })

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.this.service_config[0].uri}/projects/${var.project_id}/topics/${var.trigger.topic}"

    oidc_token {
      service_account_email = google_service_account.invoker[0].email
      audience              = google_cloudfunctions2_function.this.service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "${local.min_backoff_s}s"
    maximum_backoff = "${local.max_backoff_s}s"
  }

  dynamic "dead_letter_policy" {
    for_each = var.retry.dead_letter_topic == null ? [] : [var.dead_letter_topic_id]

    content {
      dead_letter_topic     = dead_letter_policy.value
      max_delivery_attempts = local.max_delivery_attempts
    }
  }

  # Never expire for inactivity: a schedule firing daily is still a live subscription.
  expiration_policy {
    ttl = ""
  }
}

# Pub/Sub's service agent forwards dead letters: it must acknowledge on this subscription (it
# publishes to the dead-letter topic by the platform module's grant on that topic).
resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  # Decided by the manifest (a plan-time value), never by the topic's id, which a first plan does not
  # know yet: a count must be known when planning.
  count = local.is_push && var.retry.dead_letter_topic != null ? 1 : 0

  project      = var.project_id
  subscription = google_pubsub_subscription.push[0].name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# -- secrets: accessor on each named secret only ---------------------------------------------------
resource "google_secret_manager_secret_iam_member" "access" {
  for_each = { for secret in var.secrets : secret.name => secret }

  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function.email}"
}
