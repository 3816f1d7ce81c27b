# The inference service on Cloud Run: FastAPI + torch, the model from the registry (Firestore) and
# its files from the model bucket, drift summaries from ml_monitoring.

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

    containers {
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
      # Parquet in this bucket with INFERENCE_CAPTURE_SINK=parquet.
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
  }
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
