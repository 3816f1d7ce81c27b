# terraform test: plans and mock-applies one function per trigger kind. The google provider is mocked
# (no cloud, no credentials); its schema is the published one (the stand-in provider), so every
# argument and reference is checked as the real provider checks them.

mock_provider "google" {
  source = "../../tests/mocks/google"
}

variables {
  project_id     = "mlops-events-test-000000"
  region         = "europe-west1"
  env            = "test"
  source_dir     = "../../tests/fixtures/bundles/register_model"
  sources_bucket = "mlops-events-test-000000-mlops-events-sources-test"
  entry_point    = "main"
}

run "storage_trigger_on_a_versioned_bucket" {
  variables {
    name = "register_model"
    trigger = {
      kind = "eventarc"
      event_types = [
        "google.cloud.storage.object.v1.finalized",
        "google.cloud.storage.object.v1.deleted",
        "google.cloud.storage.object.v1.archived",
      ]
      filters = { bucket = "mlops-events-test-000000-ml-models-{env}" }
    }
    retry = { policy = "retry_on_failure" }
  }

  assert {
    condition     = google_cloudfunctions2_function.this.event_trigger[0].event_type == "google.cloud.storage.object.v1.finalized"
    error_message = "The function's own trigger takes the first event type."
  }
  assert {
    condition     = toset(keys(google_eventarc_trigger.more)) == toset(["google.cloud.storage.object.v1.deleted", "google.cloud.storage.object.v1.archived"])
    error_message = "One Eventarc trigger per further event type, archived included."
  }
  assert {
    condition     = alltrue([for t in google_eventarc_trigger.more : contains([for c in t.matching_criteria : c.value if c.attribute == "bucket"], "mlops-events-test-000000-ml-models-test")])
    error_message = "Every trigger filters on the environment's model bucket ({env} resolved)."
  }
  assert {
    condition     = length(output.event_types) == 3
    error_message = "Three event types reach the function."
  }
  assert {
    condition     = google_cloudfunctions2_function.this.service_config[0].environment_variables["MLOPS_EVENTS_PROFILE"] == "cloud"
    error_message = "The cloud profile is set."
  }
  assert {
    condition     = google_storage_bucket_object.source.name == "register_model/${filemd5("../../tests/fixtures/bundles/register_model.zip")}.zip"
    error_message = "The source object is named by the bundle zip's hash."
  }
  assert {
    condition     = google_storage_bucket_object.source.source == "../../tests/fixtures/bundles/register_model.zip"
    error_message = "The zip mlops-events build wrote (and the bundle tests ran) is what deploys; Terraform writes none."
  }
}

run "build_identity_and_env_values_verbatim" {
  command = plan

  variables {
    name                  = "register_model"
    build_service_account = "projects/mlops-events-test-000000/serviceAccounts/fn-build-test@mlops-events-test-000000.iam.gserviceaccount.com"
    env_vars              = { MLOPS_EVENTS_BUCKET_PATTERN = "mlops-events-test-000000-ml-models-{env}" }
    trigger               = { kind = "eventarc", event_types = ["google.cloud.storage.object.v1.finalized"] }
    retry                 = { policy = "retry_on_failure" }
  }

  assert {
    condition     = google_cloudfunctions2_function.this.build_config[0].service_account == var.build_service_account
    error_message = "Functions build as the given identity, not the project's default."
  }
  assert {
    condition     = google_cloudfunctions2_function.this.service_config[0].environment_variables["MLOPS_EVENTS_BUCKET_PATTERN"] == "mlops-events-test-000000-ml-models-{env}"
    error_message = "{env} stays in a pattern: shared/config.py refuses a bucket pattern without it."
  }
}

run "push_with_a_dead_letter_topic" {
  variables {
    name                 = "budget_alert"
    trigger              = { kind = "pubsub", topic = "billing-budget-alerts" }
    retry                = { policy = "retry_on_failure", max_attempts = 20, dead_letter_topic = "budget-alert-dead-letter" }
    dead_letter_topic_id = "projects/mlops-events-test-000000/topics/budget-alert-dead-letter"
    secrets              = [{ name = "slack-webhook", env = "MLOPS_EVENTS_SLACK_WEBHOOK_SECRET", secret_id = "slack-webhook" }]
  }

  assert {
    condition     = google_pubsub_subscription.push[0].dead_letter_policy[0].max_delivery_attempts == 20
    error_message = "The manifest's attempts go to the dead-letter policy."
  }
  assert {
    condition     = length(google_pubsub_subscription_iam_member.dead_letter_subscriber) == 1
    error_message = "Pub/Sub's service agent may acknowledge what it forwards."
  }
  assert {
    condition     = google_pubsub_subscription_iam_member.dead_letter_subscriber[0].member == "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
    error_message = "The subscriber is the project's Pub/Sub service agent."
  }
  assert {
    condition     = length(google_eventarc_trigger.more) == 0 && length(google_cloudfunctions2_function.this.event_trigger) == 0
    error_message = "A push subscription, not Eventarc."
  }
  assert {
    condition     = google_secret_manager_secret_iam_member.access["slack-webhook"].role == "roles/secretmanager.secretAccessor"
    error_message = "Accessor on the named secret only."
  }
}

run "push_without_a_dead_letter_topic" {
  variables {
    name    = "reconcile_registry"
    trigger = { kind = "schedule", topic = "reconcile-registry" }
    retry   = { policy = "retry_on_failure", max_attempts = 3 }
  }

  assert {
    condition     = length(google_pubsub_subscription.push[0].dead_letter_policy) == 0
    error_message = "No dead-letter policy without a dead-letter topic."
  }
  assert {
    condition     = length(google_pubsub_subscription_iam_member.dead_letter_subscriber) == 0
    error_message = "No subscriber grant without a dead-letter topic."
  }
  assert {
    condition     = google_pubsub_subscription.push[0].ack_deadline_seconds == 60
    error_message = "Ack deadline covers one run (60 s by default)."
  }
}

run "http_function_has_no_invoker_of_its_own_and_none_public" {
  variables {
    name    = "drift_report_http"
    trigger = { kind = "http" }
    retry   = { policy = "scheduler", max_attempts = 3 }
  }

  assert {
    condition     = length(google_service_account.invoker) == 0 && length(google_cloud_run_v2_service_iam_member.invoker) == 0
    error_message = "An HTTP function's caller (Cloud Scheduler) brings its own invoker."
  }
  assert {
    condition     = google_cloudfunctions2_function.this.service_config[0].ingress_settings == "ALLOW_INTERNAL_ONLY"
    error_message = "Nothing from the internet reaches a function."
  }
  assert {
    condition     = alltrue([for b in output.iam_bindings : !contains(["allUsers", "allAuthenticatedUsers"], b.member)])
    error_message = "No public member."
  }
}
