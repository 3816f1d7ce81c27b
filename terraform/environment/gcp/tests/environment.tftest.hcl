# terraform test of the GCP root with one environment's values: the first plan and a mocked apply.
# Run once per environment, with its file (.ci/terraform-checks runs every terraform/environments/*.gcp.tfvars):
#   terraform -chdir=terraform/environment/gcp test -var-file=../../environments/<env>.gcp.tfvars

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
    condition = length(module.platform.functions) == length([
      for f in yamldecode(file("../../../functions/manifest.yaml")).functions : f
      if f.platform == "gcp-function" && !contains(var.disabled_functions, f.name)
    ])
    error_message = "Every gcp-function manifest entry the environment does not disable is planned."
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
    condition     = alltrue([for role, name in output.buckets : endswith(name, "-${var.env}") if role != "sources"])
    error_message = "Every data bucket name ends with the environment (the file's env, not a copied one)."
  }
  assert {
    condition     = length([for b in output.iam_bindings : b if strcontains(b, "allUsers") || strcontains(b, "allAuthenticatedUsers")]) == 0
    error_message = "No public member."
  }
  # The environment's file, read as this environment's: a copy of another environment's file that
  # kept its payloads would send this environment's drift jobs to the other one's data.
  assert {
    condition = alltrue([
      for payload in values(var.schedule_payloads) :
      try(payload.env, var.env) == var.env && alltrue([
        for side in ["reference", "current"] :
        strcontains(try(payload[side].uri, "-${var.env}/"), "-${var.env}/")
      ])
    ])
    error_message = "Each drift payload names this environment and reads its buckets."
  }
}

# The environment's alerts (modules/monitoring): each policy with a severity and its runbook, P0 always
# notifying, P1/P2 silent exactly when the environment's file puts them in shadow mode.
run "alerts" {
  assert {
    condition     = length(output.alert_policies) > 0 && alltrue([for name, p in output.alert_policies : contains(["p0", "p1", "p2"], p.severity) && endswith(p.url, "/docs/runbooks/${p.runbook}.md")])
    error_message = "Every alert policy has a severity and links its runbook."
  }
  assert {
    condition     = alltrue([for name, p in output.alert_policies : p.channels > 0 if p.severity == "p0"])
    error_message = "P0 policies always notify."
  }
  assert {
    condition     = alltrue([for name, p in output.alert_policies : (p.channels == 0) == var.monitoring_shadow_mode && p.shadow == var.monitoring_shadow_mode if p.severity != "p0"])
    error_message = "P1/P2 policies notify unless the environment is in shadow mode."
  }
}
