# terraform test: the inference service, mock-applied; callers named, never public.

mock_provider "google" {
  source = "../../tests/mocks/google"
}

variables {
  project_id         = "mlops-events-test-000000"
  region             = "europe-west1"
  env                = "test"
  image              = "europe-west1-docker.pkg.dev/mlops-events-test-000000/ml/inference@sha256:0f3c1e5d9a7b2c4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e"
  model_name         = "fraud-detector"
  model_bucket       = "mlops-events-test-000000-ml-models-test"
  bucket_pattern     = "mlops-events-test-000000-ml-models-{env}"
  monitoring_dataset = "ml_monitoring"
}

run "named_callers_only" {
  variables {
    invoker_members = ["serviceAccount:frontend@mlops-events-test-000000.iam.gserviceaccount.com"]
  }

  assert {
    condition     = [for m in google_cloud_run_v2_service_iam_member.invoker : m.member] == ["serviceAccount:frontend@mlops-events-test-000000.iam.gserviceaccount.com"]
    error_message = "run.invoker for the named caller only."
  }
  assert {
    condition     = contains([for e in google_cloud_run_v2_service.this.template[0].containers[0].env : "${e.name}=${e.value}"], "MLOPS_EVENTS_BUCKET_PATTERN=mlops-events-test-000000-ml-models-{env}")
    error_message = "The service is told the prefixed bucket pattern."
  }
  assert {
    condition     = output.uri == "https://inference-7x2kq4lqpa-ew.a.run.app"
    error_message = "The URI is the service's."
  }
}

run "public_refused" {
  command = plan

  variables {
    invoker_members = ["allAuthenticatedUsers"]
  }

  expect_failures = [var.invoker_members]
}
