# Batch predictions as a Cloud Run job: the inference image running mlops_inference.batch_job, its
# own identity reading the registry and input, writing output; optionally on a schedule.

locals {
  member = "serviceAccount:${google_service_account.job.email}"
}

resource "google_service_account" "job" {
  project      = var.project_id
  account_id   = substr("job-${var.name}-${var.env}", 0, 30)
  display_name = "${var.name} (${var.env}) Cloud Run job"
  description  = "Reads the registry, model files and batch input; writes predictions."
}

resource "google_cloud_run_v2_job" "this" {
  project             = var.project_id
  location            = var.region
  name                = var.name
  deletion_protection = false
  labels              = merge(var.labels, { env = var.env, model = var.model_name })

  lifecycle {
    precondition {
      condition     = var.parallelism <= var.task_count
      error_message = "parallelism (${var.parallelism}) cannot exceed task_count (${var.task_count})."
    }
  }

  # Each task reads CLOUD_RUN_TASK_INDEX / CLOUD_RUN_TASK_COUNT (Cloud Run sets both) and scores its own
  # share of the input, writing its own output part: the run's output is all task_count parts.
  template {
    task_count  = var.task_count
    parallelism = var.parallelism

    template {
      service_account = google_service_account.job.email
      timeout         = "${var.timeout_s}s"
      max_retries     = var.max_retries

      containers {
        image   = var.image
        command = ["python", "-m", "mlops_inference.batch_job"]
        args = concat(
          ["--model", var.model_name, "--env", var.env, "--input", var.input_uri, "--output", var.output_uri],
          var.extra_args,
        )

        resources {
          limits = {
            cpu    = var.cpu
            memory = var.memory
          }
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
      }
    }
  }
}

# -- what it touches -------------------------------------------------------------------------------
resource "google_storage_bucket_iam_member" "models_read" {
  bucket = var.model_bucket
  role   = "roles/storage.objectViewer"
  member = local.member
}

resource "google_storage_bucket_iam_member" "input" {
  for_each = toset(var.input_buckets)

  bucket = each.value
  role   = "roles/storage.objectViewer"
  member = local.member
}

# objectUser, not objectCreator: a retried task writes the same object again (the job key names it),
# and replacing an object needs delete as well as create. Not objectAdmin: no object ACLs or IAM.
resource "google_storage_bucket_iam_member" "output" {
  for_each = toset(var.output_buckets)

  bucket = each.value
  role   = "roles/storage.objectUser"
  member = local.member
}

resource "google_bigquery_dataset_iam_member" "input" {
  for_each = toset(var.input_datasets)

  project    = var.project_id
  dataset_id = each.value
  role       = "roles/bigquery.dataViewer"
  member     = local.member
}

resource "google_bigquery_dataset_iam_member" "output" {
  for_each = toset(var.output_datasets)

  project    = var.project_id
  dataset_id = each.value
  role       = "roles/bigquery.dataEditor"
  member     = local.member
}

resource "google_project_iam_member" "bigquery_jobs" {
  count = length(var.input_datasets) + length(var.output_datasets) > 0 ? 1 : 0

  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = local.member
}

# The registry is read from Firestore; Firestore roles are project-wide. viewer: it only reads.
resource "google_project_iam_member" "firestore" {
  project = var.project_id
  role    = "roles/datastore.viewer"
  member  = local.member
}

# -- optional schedule -----------------------------------------------------------------------------
resource "google_service_account" "scheduler" {
  count = var.schedule == null ? 0 : 1

  project      = var.project_id
  account_id   = substr("sch-${var.name}-${var.env}", 0, 30)
  display_name = "${var.name} (${var.env}) scheduler"
  description  = "Starts the ${var.name} job on its schedule."
}

resource "google_cloud_run_v2_job_iam_member" "scheduler" {
  count = var.schedule == null ? 0 : 1

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_job.this.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler[0].email}"
}

resource "google_cloud_scheduler_job" "run" {
  count = var.schedule == null ? 0 : 1

  project   = var.project_id
  region    = var.region
  name      = "${var.name}-${var.env}"
  schedule  = var.schedule
  time_zone = var.time_zone

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project_id}/locations/${var.region}/jobs/${google_cloud_run_v2_job.this.name}:run"

    oauth_token {
      service_account_email = google_service_account.scheduler[0].email
    }
  }

  depends_on = [google_cloud_run_v2_job_iam_member.scheduler]
}
