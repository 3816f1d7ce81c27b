# terraform test: the buckets, planned against the published google schema and mock-applied.

mock_provider "google" {
  source = "../../tests/mocks/google"
}

variables {
  project_id          = "mlops-events-test-000000"
  env                 = "test"
  location            = "europe-west1"
  name_prefix         = "mlops-events-test-000000-"
  sources_bucket_name = "mlops-events-test-000000-mlops-events-sources-test"
}

run "prefixed_versioned_private_buckets" {
  assert {
    condition = output.bucket_names == {
      models      = "mlops-events-test-000000-ml-models-test"
      drift_data  = "mlops-events-test-000000-ml-drift-test"
      drift_logs  = "mlops-events-test-000000-ml-drift-logs-test"
      predictions = "mlops-events-test-000000-ml-predictions-test"
      sources     = "mlops-events-test-000000-mlops-events-sources-test"
    }
    error_message = "Every bucket but the sources one carries the prefix; {env} resolved."
  }
  assert {
    condition     = alltrue([for b in google_storage_bucket.this : b.versioning[0].enabled && b.public_access_prevention == "enforced" && b.uniform_bucket_level_access])
    error_message = "Versioned (the model bucket's events are archived, not deleted), never public."
  }
  assert {
    condition     = length(google_storage_bucket.this["models"].lifecycle_rule) == 0
    error_message = "Model generations are kept: the registry may still serve them."
  }
  assert {
    condition     = contains(flatten([for rule in google_storage_bucket.this["predictions"].lifecycle_rule : [for c in rule.condition : c.age]]), 90)
    error_message = "Captured predictions expire after prediction_retention_days."
  }
  assert {
    condition     = output.bucket_patterns["ml-models-{env}"] == "mlops-events-test-000000-ml-models-{env}"
    error_message = "The prefixed pattern keeps {env} for the code."
  }
}
