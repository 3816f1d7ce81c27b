# terraform test: the inference service, mock-applied; callers named, never public; its Prometheus
# metrics sent to Cloud Monitoring by the Managed Service for Prometheus sidecar unless turned off.

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

run "prometheus_sidecar_by_default" {
  assert {
    condition     = [for c in google_cloud_run_v2_service.this.template[0].containers : c.name] == ["inference", "collector"]
    error_message = "The inference container first (the ingress one), then the Prometheus sidecar."
  }
  assert {
    condition     = google_cloud_run_v2_service.this.template[0].containers[1].image == "us-docker.pkg.dev/cloud-ops-agents-artifacts/cloud-run-gmp-sidecar/cloud-run-gmp-sidecar:1.2.0"
    error_message = "Google's run-gmp-sidecar, pinned to a version."
  }
  assert {
    condition     = google_cloud_run_v2_service.this.template[0].containers[1].depends_on == tolist(["inference"])
    error_message = "The sidecar starts once the inference container is healthy (its startup probe passed)."
  }
  assert {
    condition     = length(google_cloud_run_v2_service.this.template[0].containers[1].ports) == 0 && google_cloud_run_v2_service.this.template[0].containers[0].ports[0].container_port == 8080
    error_message = "The inference container keeps ingress on 8080, the port the sidecar's built-in config scrapes."
  }
  assert {
    condition     = google_cloud_run_v2_service.this.template[0].containers[1].liveness_probe[0].http_get[0].port == 13133 && google_cloud_run_v2_service.this.template[0].containers[1].liveness_probe[0].http_get[0].path == "/liveness"
    error_message = "The sidecar's own health endpoint is probed."
  }
  assert {
    condition     = length(google_cloud_run_v2_service.this.template[0].volumes) == 0 && length(google_cloud_run_v2_service.this.template[0].containers[1].volume_mounts) == 0
    error_message = "No custom config named: the sidecar's built-in RunMonitoring config, nothing mounted."
  }
  assert {
    condition     = contains(output.iam_bindings, "serviceAccount:${output.service_account_email}: roles/monitoring.metricWriter on project")
    error_message = "The service's identity may write the metrics the sidecar sends."
  }
  assert {
    condition     = length(google_secret_manager_secret_iam_member.sidecar_config) == 0
    error_message = "No secret is readable without a custom config."
  }
}

run "prometheus_sidecar_with_a_custom_config" {
  variables {
    prometheus_sidecar = { config_secret = "inference-rungmp-config" }
  }

  assert {
    condition     = google_cloud_run_v2_service.this.template[0].volumes[0].secret[0].secret == "inference-rungmp-config" && google_cloud_run_v2_service.this.template[0].volumes[0].secret[0].items[0].path == "config.yaml"
    error_message = "The secret is a volume whose file is config.yaml."
  }
  assert {
    condition     = [for m in google_cloud_run_v2_service.this.template[0].containers[1].volume_mounts : m.mount_path] == ["/etc/rungmp"] && length(google_cloud_run_v2_service.this.template[0].containers[0].volume_mounts) == 0
    error_message = "Mounted in the sidecar only, where it reads /etc/rungmp/config.yaml."
  }
  assert {
    condition     = google_secret_manager_secret_iam_member.sidecar_config[0].secret_id == "inference-rungmp-config" && google_secret_manager_secret_iam_member.sidecar_config[0].role == "roles/secretmanager.secretAccessor"
    error_message = "The service's identity reads that one secret."
  }
}

run "prometheus_sidecar_off" {
  variables {
    prometheus_sidecar = { enabled = false }
  }

  assert {
    condition     = [for c in google_cloud_run_v2_service.this.template[0].containers : c.name] == ["inference"]
    error_message = "Switched off: the inference container alone."
  }
  assert {
    condition     = length([for b in output.iam_bindings : b if strcontains(b, "monitoring.metricWriter")]) == 0
    error_message = "No metric writes without the sidecar."
  }
}

run "a_secret_path_as_config_is_refused" {
  command = plan

  variables {
    prometheus_sidecar = { config_secret = "projects/mlops-events-test-000000/secrets/rungmp/versions/1" }
  }

  expect_failures = [var.prometheus_sidecar]
}
