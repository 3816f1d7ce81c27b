# terraform test: the batch prediction job, mock-applied, with and without a schedule.

mock_provider "google" {
  source = "../../tests/mocks/google"
}

variables {
  project_id     = "mlops-events-test-000000"
  region         = "europe-west1"
  env            = "test"
  image          = "europe-west1-docker.pkg.dev/mlops-events-test-000000/ml/inference@sha256:0f3c1e5d9a7b2c4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e"
  model_name     = "fraud-detector"
  input_uri      = "gs://in/*.parquet"
  output_uri     = "gs://out/predictions/"
  model_bucket   = "mlops-events-test-000000-ml-models-test"
  input_buckets  = ["in"]
  output_buckets = ["out"]
}

run "on_demand" {
  assert {
    condition     = google_storage_bucket_iam_member.output["out"].role == "roles/storage.objectUser"
    error_message = "The job may replace the object a retried task writes again."
  }
  assert {
    condition     = length(google_cloud_scheduler_job.run) == 0 && output.scheduler_job_id == null
    error_message = "No schedule unless asked."
  }
}

run "scheduled" {
  variables {
    schedule = "0 2 * * *"
  }

  assert {
    condition     = google_cloud_scheduler_job.run[0].http_target[0].oauth_token[0].service_account_email == google_service_account.scheduler[0].email
    error_message = "The schedule starts the job as its own identity."
  }
  assert {
    condition     = google_cloud_run_v2_job_iam_member.scheduler[0].member == "serviceAccount:${google_service_account.scheduler[0].email}"
    error_message = "That identity may run this job only."
  }
}

run "one_task_by_default" {
  assert {
    condition     = google_cloud_run_v2_job.this.template[0].task_count == 1 && output.task_count == 1
    error_message = "One task unless asked: the job writes one file, named as before."
  }
}

run "scaled_out" {
  variables {
    task_count  = 8
    parallelism = 4
  }

  assert {
    condition     = google_cloud_run_v2_job.this.template[0].task_count == 8 && google_cloud_run_v2_job.this.template[0].parallelism == 4
    error_message = "Terraform sets the task count and how many run at once."
  }
  assert {
    condition     = output.task_count == 8
    error_message = "The output names how many parts a complete run leaves."
  }
}

run "task_count_zero_is_refused" {
  command = plan

  variables {
    task_count = 0
  }

  expect_failures = [var.task_count]
}

run "fractional_task_count_is_refused" {
  command = plan

  variables {
    task_count = 2.5
  }

  expect_failures = [var.task_count]
}

run "negative_parallelism_is_refused" {
  command = plan

  variables {
    parallelism = -1
  }

  expect_failures = [var.parallelism]
}

run "parallelism_over_task_count_is_refused" {
  command = plan

  variables {
    task_count  = 2
    parallelism = 3
  }

  expect_failures = [google_cloud_run_v2_job.this]
}
