# Computed values the mocked provider returns where a test reads them (terraform test, mock_provider
# "google" { source = ".../tests/mocks/google" }): the shapes the real provider returns. Anything not set
# here is made up by Terraform (random strings), which is enough where only distinctness matters.

mock_data "google_project" {
  defaults = {
    number     = "123456789012"
    project_id = "mlops-events-test-000000"
    name       = "mlops-events-test"
  }
}
mock_data "google_storage_project_service_account" {
  defaults = {
    email_address = "service-123456789012@gs-project-accounts.iam.gserviceaccount.com"
  }
}
mock_resource "google_cloudfunctions2_function" {
  defaults = {
    state       = "ACTIVE"
    environment = "GEN_2"
    url         = "https://europe-west1-mlops-events-test-000000.cloudfunctions.net/fn"
  }
}
mock_resource "google_cloud_run_v2_service" {
  defaults = {
    uri = "https://inference-7x2kq4lqpa-ew.a.run.app"
  }
}
mock_resource "google_billing_budget" {
  defaults = {
    name = "billingAccounts/000000-000000-000000/budgets/5e9c3b2a-1f7d-4e0a-9c1b-2d3e4f5a6b7c"
  }
}
mock_resource "google_project_iam_custom_role" {
  defaults = {
    id = "projects/mlops-events-test-000000/roles/mlopsEventsBucketListerTest"
  }
}
mock_resource "google_storage_bucket" {
  defaults = {
    url       = "gs://mlops-events-test-000000-ml-models-test"
    self_link = "https://www.googleapis.com/storage/v1/b/mlops-events-test-000000-ml-models-test"
  }
}
mock_resource "google_cloud_run_v2_job" {
  defaults = {
    uid = "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
  }
}
mock_resource "google_firestore_database" {
  defaults = {
    uid = "2e1f0d3c-5b4a-7968-9a8b-1c0d2e3f4a5b"
  }
}
# The bootstrap root (bootstrap/gcp): names in the shapes GitHub's workflow variables take.
mock_resource "google_iam_workload_identity_pool" {
  defaults = {
    name = "projects/123456789012/locations/global/workloadIdentityPools/github"
  }
}
mock_resource "google_iam_workload_identity_pool_provider" {
  defaults = {
    name = "projects/123456789012/locations/global/workloadIdentityPools/github/providers/github"
  }
}
mock_resource "google_artifact_registry_repository" {
  defaults = {
    name = "ml"
    id   = "projects/mlops-events-test-000000/locations/europe-west1/repositories/ml"
  }
}
