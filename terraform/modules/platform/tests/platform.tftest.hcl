# terraform test: the GCP side of an environment planned and mock-applied from the real manifest
# (functions/manifest.yaml) with the published google schema (stand-in provider) and mocked values.
# Covers: the default variables (also as a plan alone: a first plan, where every id is unknown),
# inference and batch job on, a manifest function left out, the payload types, the Eventarc event
# types on the versioned model bucket, the roles of each service account, no public invoker.

mock_provider "google" {
  source = "../../tests/mocks/google"
}

variables {
  project_id    = "mlops-events-test-000000"
  region        = "europe-west1"
  env           = "test"
  manifest_path = "../../../functions/manifest.yaml"
  schemas_dir   = "../../../shared/schemas"
  bundles_dir   = "../../tests/fixtures/bundles"
  budget = {
    billing_account = "000000-000000-000000"
    amount          = 200
  }
}

run "first_plan_with_the_default_variables" {
  command = plan

  assert {
    # Read from the manifest, so a new entry is expected here without editing this file; the functions
    # the other assertions name are among them.
    condition = toset(keys(module.function)) == toset([
      for f in yamldecode(file(var.manifest_path)).functions : f.name if f.platform == "gcp-function"
    ]) && length(setsubtract(["register_model", "reconcile_registry", "budget_alert", "drift_report", "drift_report_http"], keys(module.function))) == 0
    error_message = "One function per gcp-function manifest entry."
  }
  assert {
    condition     = module.storage.bucket_names["models"] == "mlops-events-test-000000-ml-models-test"
    error_message = "Bucket names carry the project id (global names)."
  }
  assert {
    condition     = toset(output.function_event_types["register_model"]) == toset(["google.cloud.storage.object.v1.finalized", "google.cloud.storage.object.v1.deleted", "google.cloud.storage.object.v1.archived"])
    error_message = "The plan subscribes register_model to archived on the versioned model bucket."
  }
  assert {
    condition     = module.function["register_model"].function_name == "register-model"
    error_message = "Deployed names use hyphens."
  }
}

run "defaults_applied" {
  assert {
    condition = toset(output.function_event_types["register_model"]) == toset([
      "google.cloud.storage.object.v1.finalized",
      "google.cloud.storage.object.v1.deleted",
      "google.cloud.storage.object.v1.archived",
    ])
    error_message = "register_model hears archived too: on the versioned model bucket a deleted live object is archived, not deleted."
  }
  assert {
    condition     = output.function_event_types["evaluate_model"] == ["google.cloud.storage.object.v1.finalized"]
    error_message = "evaluate_model hears finalized only: it gates a new metrics.json, never a deletion."
  }
  assert {
    condition     = alltrue([for name, types in output.function_event_types : length(types) == 0 if !contains(["register_model", "evaluate_model"], name)])
    error_message = "Only register_model and evaluate_model are Eventarc functions."
  }
  assert {
    condition     = output.budget_id != null
    error_message = "The budget exists while budget_alert does."
  }
  assert {
    condition     = output.inference_uri == null
    error_message = "No inference service by default."
  }
  assert {
    condition     = length([for b in output.iam_bindings : b if strcontains(b, "allUsers") || strcontains(b, "allAuthenticatedUsers")]) == 0
    error_message = "No public member anywhere."
  }
  # The roles of each function's identity: exactly what its adapters use.
  assert {
    condition = toset([for b in output.iam_bindings : trimprefix(b, "serviceAccount:${output.service_accounts["function:register_model"]}: ") if startswith(b, "serviceAccount:${output.service_accounts["function:register_model"]}: ")]) == toset([
      "roles/storage.objectViewer on bucket mlops-events-test-000000-ml-models-test",
      "roles/bigquery.dataEditor on dataset ml_registry",
      "roles/bigquery.jobUser on project",
      "roles/datastore.user on project",
    ])
    error_message = "register_model: read the model bucket, write the registry, Firestore; nothing else."
  }
  assert {
    condition = toset([for b in output.iam_bindings : trimprefix(b, "serviceAccount:${output.service_accounts["function:budget_alert"]}: ") if startswith(b, "serviceAccount:${output.service_accounts["function:budget_alert"]}: ")]) == toset([
      "roles/datastore.user on project",
      "roles/secretmanager.secretAccessor on secret slack-webhook",
    ])
    error_message = "budget_alert: Firestore and the Slack webhook secret; nothing else."
  }
  assert {
    condition = toset([for b in output.iam_bindings : trimprefix(b, "serviceAccount:${output.service_accounts["function:drift_report"]}: ") if startswith(b, "serviceAccount:${output.service_accounts["function:drift_report"]}: ")]) == toset([
      "roles/storage.objectViewer on bucket mlops-events-test-000000-ml-drift-test",
      "roles/storage.objectUser on bucket mlops-events-test-000000-ml-drift-logs-test",
      "roles/bigquery.dataEditor on dataset ml_monitoring",
      "roles/bigquery.jobUser on project",
      "roles/datastore.user on project",
      "roles/secretmanager.secretAccessor on secret slack-webhook",
    ])
    error_message = "drift_report: read drift data, write reports and drift_runs, Firestore, the webhook secret."
  }
  assert {
    condition = toset([for b in output.iam_bindings : trimprefix(b, "serviceAccount:${output.service_accounts["function:reconcile_registry"]}: ") if startswith(b, "serviceAccount:${output.service_accounts["function:reconcile_registry"]}: ")]) == toset([
      "roles/storage.objectViewer on bucket mlops-events-test-000000-ml-models-test",
      "roles/bigquery.dataEditor on dataset ml_registry",
      "roles/bigquery.jobUser on project",
      "roles/datastore.user on project",
      "projects/mlops-events-test-000000/roles/mlopsEventsBucketListerTest on project",
      "roles/secretmanager.secretAccessor on secret slack-webhook",
    ])
    error_message = "reconcile_registry: as register_model, plus listing buckets (custom role) and the webhook secret (the gate decisions it makes up are posted)."
  }
  assert {
    condition = toset([for b in output.iam_bindings : trimprefix(b, "serviceAccount:${output.service_accounts["invoker:register_model"]}: ") if startswith(b, "serviceAccount:${output.service_accounts["invoker:register_model"]}: ")]) == toset([
      "roles/run.invoker on service ${module.function["register_model"].service_name}",
      "roles/eventarc.eventReceiver on project",
    ])
    error_message = "The Eventarc identity may invoke register_model's service and receive events; nothing else."
  }
  assert {
    condition = toset([for b in output.iam_bindings : trimprefix(b, "serviceAccount:${output.service_accounts["build"]}: ") if startswith(b, "serviceAccount:${output.service_accounts["build"]}: ")]) == toset([
      "roles/logging.logWriter on project",
      "roles/artifactregistry.writer on project",
      "roles/storage.objectViewer on bucket mlops-events-test-000000-mlops-events-sources-test",
    ])
    error_message = "The build identity: logs, images, reading the sources."
  }
  assert {
    condition     = contains(output.iam_bindings, "serviceAccount:service-123456789012@gs-project-accounts.iam.gserviceaccount.com: roles/pubsub.publisher on project")
    error_message = "The GCS service agent publishes the storage events."
  }
}

run "inference_and_batch_job_on" {
  variables {
    inference = {
      image           = "europe-west1-docker.pkg.dev/mlops-events-test-000000/ml/inference@sha256:0f3c1e5d9a7b2c4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e"
      model_name      = "fraud-detector"
      invoker_members = ["serviceAccount:frontend@mlops-events-test-000000.iam.gserviceaccount.com"]
    }
    batch_job = {
      image          = "europe-west1-docker.pkg.dev/mlops-events-test-000000/ml/inference@sha256:0f3c1e5d9a7b2c4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e"
      model_name     = "fraud-detector"
      input_uri      = "gs://mlops-events-test-000000-batch-in/*.parquet"
      output_uri     = "gs://mlops-events-test-000000-batch-out/predictions/"
      input_buckets  = ["mlops-events-test-000000-batch-in"]
      output_buckets = ["mlops-events-test-000000-batch-out"]
      schedule       = "0 2 * * *"
      task_count     = 4
      parallelism    = 2
    }
  }

  assert {
    condition     = module.batch_job[0].task_count == 4
    error_message = "The batch job's task count reaches the job: four tasks, four output parts."
  }
  assert {
    condition     = output.inference_uri == "https://inference-7x2kq4lqpa-ew.a.run.app"
    error_message = "The service's URI is an output."
  }
  assert {
    condition     = contains(output.iam_bindings, "serviceAccount:frontend@mlops-events-test-000000.iam.gserviceaccount.com: roles/run.invoker on service inference")
    error_message = "Only the named callers invoke the service."
  }
  assert {
    condition     = length([for b in output.iam_bindings : b if strcontains(b, "roles/run.invoker on service inference")]) == 1
    error_message = "Nobody but the named caller invokes the inference service."
  }
  assert {
    condition     = contains(output.iam_bindings, "serviceAccount:${output.service_accounts["inference"]}: roles/monitoring.metricWriter on project")
    error_message = "The inference service sends its Prometheus metrics by default: its identity may write metrics (cloud-run-service asserts the sidecar itself)."
  }
  assert {
    condition = toset([for b in output.iam_bindings : trimprefix(b, "serviceAccount:${output.service_accounts["batch_job"]}: ") if startswith(b, "serviceAccount:${output.service_accounts["batch_job"]}: ")]) == toset([
      "roles/storage.objectViewer on bucket mlops-events-test-000000-ml-models-test",
      "roles/storage.objectViewer on bucket mlops-events-test-000000-batch-in",
      "roles/storage.objectUser on bucket mlops-events-test-000000-batch-out",
      "roles/datastore.viewer on project",
    ])
    error_message = "The batch job reads models and input, replaces its output (objectUser: a retry rewrites the object), reads the registry."
  }
  assert {
    condition     = length([for b in output.iam_bindings : b if strcontains(b, "allUsers") || strcontains(b, "allAuthenticatedUsers")]) == 0
    error_message = "No public member anywhere."
  }
}

run "a_public_inference_service_is_refused" {
  command = plan

  variables {
    inference = {
      image           = "europe-west1-docker.pkg.dev/mlops-events-test-000000/ml/inference@sha256:0f3c1e5d9a7b2c4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e"
      model_name      = "fraud-detector"
      invoker_members = ["allUsers"]
    }
  }

  expect_failures = [var.inference]
}

run "budget_alert_left_out_of_the_manifest" {
  variables {
    disabled_functions = ["budget_alert"]
  }

  assert {
    condition     = !contains(keys(module.function), "budget_alert") && output.budget_id == null
    error_message = "Without budget_alert there is no function and no budget (and no Invalid index)."
  }
  assert {
    condition     = !contains(keys(output.topics), "billing-budget-alerts") && contains(keys(output.topics), "drift-report")
    error_message = "The budget topic goes with it; the other topics stay."
  }
}

run "payloads_of_different_shapes_keep_their_types" {
  variables {
    schedule_payloads = {
      drift_report = {
        model     = "fraud-detector"
        env       = "test"
        reference = { uri = "gs://mlops-events-test-000000-ml-drift-test/fraud-detector/reference/*.parquet" }
        current   = { uri = "gs://mlops-events-test-000000-ml-drift-test/fraud-detector/current/*.parquet", timestamp_column = "event_time", window_hours = 24 }
      }
      drift_report_http  = { model = "fraud-detector", env = "test", reference = { uri = "bq://p.d.ref" }, current = { uri = "bq://p.d.cur" } }
      reconcile_registry = {}
    }
  }

  assert {
    condition     = jsondecode(output.schedule_bodies["drift_report"]).current.window_hours == 24
    error_message = "A number in a payload stays a number (map(any) made it \"24\")."
  }
  assert {
    condition     = jsondecode(output.schedule_bodies["reconcile_registry"]) == {}
    error_message = "An empty payload stays empty."
  }
}

run "flat_payloads_of_different_shapes_keep_their_numbers" {
  command = plan

  # The shape that made map(any) turn numbers into strings: flat objects with different attributes
  # unify to map(string), and "window_hours": 24 was sent as "24".
  variables {
    schedule_payloads = {
      reconcile_registry = { bucket = "mlops-events-test-000000-ml-models-test" }
      drift_report_http  = { model = "fraud-detector", env = "test", window_hours = 24 }
    }
  }

  assert {
    condition     = jsondecode(output.schedule_bodies["drift_report_http"]).window_hours == 24
    error_message = "window_hours stays the number 24."
  }
}

