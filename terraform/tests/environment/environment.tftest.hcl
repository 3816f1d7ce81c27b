# terraform test of an environment's GCP root (environments/<env>), with its terraform.tfvars: the
# first plan and a mocked apply. Shared by dev, staging and prod:
#   terraform -chdir=terraform/environments/<env> test   (environments/<env>/tests links here)

mock_provider "google" {
  source = "../../tests/mocks/google"
}

variables {
  # The build's zips stand in for dist/ (tests/fixtures/bundles).
  bundles_dir = "../../tests/fixtures/bundles"
}

run "first_plan" {
  command = plan

  assert {
    condition     = length(module.platform.functions) == 5 || length(var.disabled_functions) > 0
    error_message = "Every gcp-function manifest entry is planned."
  }
}

# The documented first apply of a new project, step one: the grants the first build and the first
# Eventarc trigger need, alone (README, Deploy). Step two is the full apply below, on the same state.
run "first_apply_step_one_grants" {
  plan_options {
    target = [
      module.platform.google_project_iam_member.gcs_pubsub_publisher,
      module.platform.google_project_iam_member.build,
      module.platform.google_storage_bucket_iam_member.build_sources,
    ]
  }
  # Outputs are not updated by a targeted apply: the check is that the addresses the README names
  # exist and apply on their own (with what they depend on: the build identity, the sources bucket).
}

run "mocked_apply" {
  assert {
    condition     = toset(output.function_event_types["register_model"]) == toset(["google.cloud.storage.object.v1.finalized", "google.cloud.storage.object.v1.deleted", "google.cloud.storage.object.v1.archived"])
    error_message = "register_model hears finalized, deleted and archived on the versioned model bucket."
  }
  assert {
    condition     = alltrue([for name in values(output.buckets) : startswith(name, var.project_id)])
    error_message = "Every bucket name carries the project id."
  }
  assert {
    condition     = length([for b in output.iam_bindings : b if strcontains(b, "allUsers") || strcontains(b, "allAuthenticatedUsers")]) == 0
    error_message = "No public member."
  }
}
