# The inference service on Cloud Run: FastAPI + torch, the model from the registry (Firestore) and
# its files from the model bucket, drift summaries from ml_monitoring. Its Prometheus metrics
# (/metrics) reach Cloud Monitoring through Google's Managed Service for Prometheus sidecar.

locals {
  sidecar = var.prometheus_sidecar.enabled
  # A custom RunMonitoring config, when one is named: a Secret Manager secret mounted where the
  # sidecar reads it (/etc/rungmp/config.yaml). Without one, the sidecar's built-in config applies.
  sidecar_config = local.sidecar && var.prometheus_sidecar.config_secret != null
}

resource "google_service_account" "service" {
  project      = var.project_id
  account_id   = substr("run-${var.name}-${var.env}", 0, 30)
  display_name = "${var.name} (${var.env}) Cloud Run service"
  description  = "Reads the registry, the model bucket and drift runs; writes feedback."
}

resource "google_cloud_run_v2_service" "this" {
  project             = var.project_id
  location            = var.region
  name                = var.name
  ingress             = var.ingress
  deletion_protection = false
  labels              = merge(var.labels, { env = var.env, model = var.model_name })

  template {
    service_account                  = google_service_account.service.email
    max_instance_request_concurrency = var.concurrency

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    # The ingress container, named: the sidecar's startup waits on it (depends_on).
    containers {
      name  = "inference"
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
        # The batcher and the registry poll run between requests.
        cpu_idle = false
      }

      env {
        name  = "MODEL_NAME"
        value = var.model_name
      }
      env {
        name  = "ENV"
        value = var.env
      }
      env {
        name  = "MLOPS_EVENTS_PROFILE"
        value = "cloud"
      }
      env {
        name  = "MLOPS_EVENTS_GCP_PROJECT"
        value = var.project_id
      }
      env {
        name  = "MLOPS_EVENTS_STATE_DIR"
        value = "/tmp/mlops-events"
      }
      env {
        name  = "MLOPS_EVENTS_BUCKET_PATTERN"
        value = var.bucket_pattern
      }
      # Prediction capture (mlops_inference.capture): BigQuery's ml_monitoring.predictions by default, or
      # Parquet in this bucket with INFERENCE_CAPTURE_SINK=parquet (both with bigquery,parquet).
      dynamic "env" {
        for_each = var.predictions_bucket == null ? [] : [var.predictions_bucket]

        content {
          name  = "INFERENCE_CAPTURE_BUCKET"
          value = env.value
        }
      }

      dynamic "env" {
        for_each = var.inference_settings

        content {
          name  = env.key
          value = env.value
        }
      }

      # /readyz answers 200 once a model is loaded: a new revision takes traffic only then (the old
      # one keeps serving meanwhile). The probe gives the first load up to 5 minutes.
      startup_probe {
        period_seconds    = 5
        failure_threshold = 60
        timeout_seconds   = 3

        http_get {
          path = var.startup_probe_path
        }
      }

      liveness_probe {
        period_seconds    = 15
        failure_threshold = 3
        timeout_seconds   = 3

        http_get {
          path = "/healthz"
        }
      }
    }

    # Managed Service for Prometheus for Cloud Run (Google's run-gmp-sidecar): scrapes the service's
    # /metrics and writes them to Cloud Monitoring, where the PromQL alert policies of
    # modules/monitoring read them (inference_low_confidence_share, inference_feedback_accuracy). Its
    # built-in RunMonitoring config scrapes port 8080, /metrics, every 30 s: the service's own port and
    # path. It starts once the inference container's startup probe passes (depends_on), so its first
    # scrape finds /metrics answering, and scrapes once more at shutdown.
    dynamic "containers" {
      for_each = local.sidecar ? [var.prometheus_sidecar] : []

      content {
        name       = "collector"
        image      = containers.value.image
        depends_on = ["inference"]

        resources {
          limits = {
            cpu    = containers.value.cpu
            memory = containers.value.memory
          }
          # As the service's: instances keep their CPU between requests, so scrapes are not throttled.
          cpu_idle = false
        }

        # The sidecar's own health endpoint (documented: port 13133, /liveness).
        liveness_probe {
          period_seconds  = 30
          timeout_seconds = 30

          http_get {
            path = "/liveness"
            port = 13133
          }
        }

        dynamic "volume_mounts" {
          for_each = local.sidecar_config ? ["rungmp-config"] : []

          content {
            name       = volume_mounts.value
            mount_path = "/etc/rungmp"
          }
        }
      }
    }

    # The custom RunMonitoring config: the secret's latest version as /etc/rungmp/config.yaml (the
    # sidecar rereads it every 20 s). Its value is added out of band, like every secret value here.
    dynamic "volumes" {
      for_each = local.sidecar_config ? [var.prometheus_sidecar.config_secret] : []

      content {
        name = "rungmp-config"

        secret {
          secret = volumes.value

          items {
            version = "latest"
            path    = "config.yaml"
          }
        }
      }
    }
  }

  # Cloud Run checks at deploy time that the service account can read a mounted secret; the sidecar's
  # first writes (10 s after start) need the metric writer grant in place.
  depends_on = [google_secret_manager_secret_iam_member.sidecar_config, google_project_iam_member.metric_writer]
}

# Only named callers; none by default.
resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = toset(var.invoker_members)

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.this.name
  role     = "roles/run.invoker"
  member   = each.value
}

# -- what it reads: the model bucket's objects, drift_runs; Firestore for the registry and feedback --
resource "google_storage_bucket_iam_member" "models_read" {
  bucket = var.model_bucket
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.service.email}"
}

resource "google_bigquery_dataset_iam_member" "monitoring_read" {
  project    = var.project_id
  dataset_id = var.monitoring_dataset
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${google_service_account.service.email}"
}

# -- what it writes: its captured predictions (streamed into the table; Parquet objects, optionally) --------
resource "google_bigquery_table_iam_member" "predictions_write" {
  count      = var.predictions_table == null ? 0 : 1
  project    = var.project_id
  dataset_id = var.monitoring_dataset
  table_id   = var.predictions_table
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${google_service_account.service.email}"
}

resource "google_storage_bucket_iam_member" "predictions_write" {
  count  = var.predictions_bucket == null ? 0 : 1
  bucket = var.predictions_bucket
  role   = "roles/storage.objectCreator"
  member = "serviceAccount:${google_service_account.service.email}"
}

# Queries run as jobs of the project: jobUser is only grantable there.
resource "google_project_iam_member" "bigquery_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${google_service_account.service.email}"
}

# The registry (read) and feedback (write) are Firestore documents; Firestore roles are project-wide.
resource "google_project_iam_member" "firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.service.email}"
}

# -- what the Prometheus sidecar needs: write metrics; read its config secret, if any --------------
# Metric writes are project-wide (no resource-level grant exists for time series).
resource "google_project_iam_member" "metric_writer" {
  count   = local.sidecar ? 1 : 0
  project = var.project_id
  role    = "roles/monitoring.metricWriter"
  member  = "serviceAccount:${google_service_account.service.email}"
}

resource "google_secret_manager_secret_iam_member" "sidecar_config" {
  count     = local.sidecar_config ? 1 : 0
  project   = var.project_id
  secret_id = var.prometheus_sidecar.config_secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.service.email}"
}
