# terraform test of the GCP bootstrap: a first plan and a mocked apply for a project serving two
# environments. Asserts the promises CI's security rests on: the provider takes this repository's
# tokens only, each identity is usable from its own GitHub environment only, plan identities cannot
# change anything (nor the state), the state bucket is versioned and private, the image repository
# cleans up; and that the outputs carry every variable the workflows read.

mock_provider "google" {
  source = "../../tests/mocks/google"
}

variables {
  project_id        = "mlops-events-test-000000"
  github_repository = "acme/mlops-events"
  environments      = ["dev", "staging"]
  billing_account   = "000000-000000-000000"
}

run "first_plan" {
  command = plan

  assert {
    condition     = google_iam_workload_identity_pool_provider.github.attribute_condition == "assertion.repository == 'acme/mlops-events'"
    error_message = "The provider refuses every other repository's tokens."
  }
  assert {
    condition     = google_iam_workload_identity_pool_provider.github.oidc[0].issuer_uri == "https://token.actions.githubusercontent.com"
    error_message = "GitHub Actions' issuer."
  }
  assert {
    condition = (
      google_storage_bucket.state.name == "mlops-events-test-000000-tfstate"
      && google_storage_bucket.state.versioning[0].enabled
      && google_storage_bucket.state.public_access_prevention == "enforced"
      && google_storage_bucket.state.uniform_bucket_level_access
      && !google_storage_bucket.state.force_destroy
    )
    error_message = "The state bucket is versioned, private, uniform, and not destroyed with its states."
  }
  assert {
    condition     = toset(keys(google_service_account.terraform)) == toset(["dev", "dev-plan", "staging", "staging-plan"])
    error_message = "One apply and one plan identity per environment."
  }
  assert {
    condition     = length(toset([for sa in google_service_account.terraform : sa.account_id])) == 4
    error_message = "Distinct service account ids."
  }
  assert {
    condition = length([
      for grant in google_project_iam_member.plan : grant.role
      if can(regex("admin|owner|editor|Admin|User$|\\.developer$", grant.role)) && grant.role != "roles/serviceusage.serviceUsageConsumer"
    ]) == 0
    error_message = "Plan identities hold read-only roles only."
  }
  assert {
    condition = alltrue([
      for env in ["dev", "staging"] : toset([for key, grant in google_project_iam_member.apply : grant.role if startswith(key, "${env} ")]) == toset([
        "roles/bigquery.admin", "roles/cloudfunctions.admin", "roles/cloudscheduler.admin", "roles/datastore.owner",
        "roles/eventarc.admin", "roles/iam.roleAdmin", "roles/iam.serviceAccountAdmin", "roles/iam.serviceAccountUser",
        "roles/logging.configWriter", "roles/monitoring.editor", "roles/pubsub.admin", "roles/resourcemanager.projectIamAdmin",
        "roles/run.admin", "roles/secretmanager.admin", "roles/serviceusage.serviceUsageConsumer", "roles/storage.admin",
      ])
    ])
    error_message = "Each apply identity holds the deploy roles of what the environment root creates, and no basic role."
  }
  assert {
    condition     = alltrue([for binding in google_storage_bucket_iam_member.state_plan_lock : binding.condition[0].expression == "resource.name.endsWith('.tflock')" && binding.role == "roles/storage.objectUser"])
    error_message = "A plan identity writes the lock only, never the state."
  }
  assert {
    condition     = toset(keys(google_storage_bucket_iam_member.state_apply)) == toset(["dev", "staging"]) && alltrue([for binding in google_storage_bucket_iam_member.state_apply : binding.role == "roles/storage.objectAdmin"])
    error_message = "Only apply identities write the states."
  }
  assert {
    condition     = { for key, binding in google_billing_account_iam_member.terraform : key => binding.role } == { dev = "roles/billing.costsManager", staging = "roles/billing.costsManager", dev-plan = "roles/billing.viewer", staging-plan = "roles/billing.viewer" }
    error_message = "The budget: managed by apply identities, read by plan identities."
  }
}

run "mocked_apply" {
  assert {
    condition = alltrue([
      for key, binding in google_service_account_iam_member.terraform_github :
      endswith(binding.member, "/subject/repo:acme/mlops-events:environment:${key}") && startswith(binding.member, "principal://")
    ])
    error_message = "Each Terraform identity is bound to one subject: this repository's job in its own GitHub environment."
  }
  assert {
    condition = (
      [for p in google_artifact_registry_repository.images[0].cleanup_policies : p if p.action == "KEEP"][0].most_recent_versions[0].keep_count == 10
      && [for p in google_artifact_registry_repository.images[0].cleanup_policies : p if p.action == "DELETE"][0].condition[0].tag_state == "UNTAGGED"
      && [for p in google_artifact_registry_repository.images[0].cleanup_policies : p if p.action == "DELETE"][0].condition[0].older_than == "1209600s"
      && !google_artifact_registry_repository.images[0].cleanup_policy_dry_run
    )
    error_message = "The image repository keeps the 10 most recent versions and deletes untagged ones after 14 days, for real (no dry run)."
  }
  assert {
    condition     = google_service_account_iam_member.images_github[0].member == "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/attribute.image_publisher/true"
    error_message = "The image publisher is usable from main and v* tags only (attribute.image_publisher)."
  }
  assert {
    condition     = strcontains(google_iam_workload_identity_pool_provider.github.attribute_mapping["attribute.image_publisher"], "assertion.ref == 'refs/heads/main' || assertion.ref.startsWith('refs/tags/v')")
    error_message = "image_publisher is true for main and v* tags."
  }
  assert {
    condition     = google_artifact_registry_repository_iam_member.images_writer[0].role == "roles/artifactregistry.writer"
    error_message = "The publisher writes to the image repository, nothing else."
  }
  assert {
    condition = output.github_variables.repository == {
      GCP_WIF_PROVIDER           = "projects/123456789012/locations/global/workloadIdentityPools/github/providers/github"
      GCP_REGION                 = "europe-west1"
      GCP_IMAGES_PROJECT_ID      = "mlops-events-test-000000"
      GCP_IMAGES_REPOSITORY      = "ml"
      GCP_IMAGES_SERVICE_ACCOUNT = google_service_account.images[0].email
    }
    error_message = "The repository variables deploy-containers.yml and terraform.yml read."
  }
  assert {
    condition = output.github_variables.environments["staging-plan"] == {
      GCP_PROJECT_ID      = "mlops-events-test-000000"
      GCP_SERVICE_ACCOUNT = "tf-plan-staging@mlops-events-test-000000.iam.gserviceaccount.com"
      GCP_WIF_PROVIDER    = "projects/123456789012/locations/global/workloadIdentityPools/github/providers/github"
      TF_STATE_BUCKET     = "mlops-events-test-000000-tfstate"
    }
    error_message = "A plan environment's variables name its plan identity."
  }
  assert {
    condition     = output.github_variables.environments["dev"].GCP_SERVICE_ACCOUNT == "tf-apply-dev@mlops-events-test-000000.iam.gserviceaccount.com"
    error_message = "An apply environment's variables name its apply identity."
  }
}

run "the_repository_id_pins_the_provider_too" {
  command = plan

  variables {
    github_repository_id = "123456789"
    images               = false
    billing_account      = null
  }

  assert {
    condition     = google_iam_workload_identity_pool_provider.github.attribute_condition == "assertion.repository == 'acme/mlops-events' && assertion.repository_id == '123456789'"
    error_message = "With its id, a re-created repository of the same name is refused too."
  }
  assert {
    condition     = length(google_artifact_registry_repository.images) == 0 && length(google_service_account.images) == 0 && length(google_billing_account_iam_member.terraform) == 0
    error_message = "images = false: no repository and no publisher; no billing account: no billing grant."
  }
}

run "a_repository_that_is_not_owner_slash_name_is_refused" {
  command = plan

  variables {
    github_repository = "mlops-events"
  }
  expect_failures = [var.github_repository]
}

run "an_empty_environment_list_is_refused" {
  command = plan

  variables {
    environments = []
  }
  expect_failures = [var.environments]
}
