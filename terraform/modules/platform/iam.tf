# Least privilege per function: only what the adapters its `cloud` profile builds (shared/deps.py)
# touch. Bucket- and dataset-level bindings wherever GCP has them; project-level only for BigQuery
# jobs, Firestore and listing buckets, which have no narrower resource. A manifest function missing
# here gets no data access at all (tests/functional/test_terraform_contract.py fails until it is added).

locals {
  function_access = {
    # GcsObjectStore.read_head (ranged read pinned to the generation), FanOutRegistryStore
    # (Firestore documents + BigQuery MERGE into ml_registry.models), FirestoreIdempotencyStore.
    register_model = {
      buckets      = { models = "roles/storage.objectViewer" }
      datasets     = { registry = "roles/bigquery.dataEditor" }
      firestore    = true
      list_buckets = false
    }
    # The same, plus listing the objects of each model bucket and listing buckets to find them
    # (GcsObjectStore.list_buckets: no payload.buckets in the scheduled message).
    reconcile_registry = {
      buckets      = { models = "roles/storage.objectViewer" }
      datasets     = { registry = "roles/bigquery.dataEditor" }
      firestore    = true
      list_buckets = true
    }
    # register_model's access (it registers the metrics file under the same claim: GcsObjectStore
    # reads pinned to a generation, the FanOutRegistryStore's Firestore documents and BigQuery
    # appends, which alias moves and gate decisions are too), FirestoreIdempotencyStore; the Slack
    # webhook secret (module grant).
    evaluate_model = {
      buckets      = { models = "roles/storage.objectViewer" }
      datasets     = { registry = "roles/bigquery.dataEditor" }
      firestore    = true
      list_buckets = false
    }
    # FirestoreAlertLedger + FirestoreIdempotencyStore; the Slack webhook secret (module grant).
    budget_alert = {
      buckets      = {}
      datasets     = {}
      firestore    = true
      list_buckets = false
    }
    # The same ports as budget_alert: FirestoreAlertLedger + FirestoreIdempotencyStore, the Slack webhook.
    monitoring_alert = {
      buckets      = {}
      datasets     = {}
      firestore    = true
      list_buckets = false
    }
    # GcsParquetFiles on the drift data, reports and the reference cache written and read in the
    # drift-logs bucket (objectUser: an overwritten cache entry needs delete), MERGE into
    # ml_monitoring.drift_runs, Firestore idempotency, the Slack webhook secret (module grant).
    drift_report = {
      buckets      = { drift_data = "roles/storage.objectViewer", drift_logs = "roles/storage.objectUser" }
      datasets     = { monitoring = "roles/bigquery.dataEditor" }
      firestore    = true
      list_buckets = false
    }
    drift_report_http = {
      buckets      = { drift_data = "roles/storage.objectViewer", drift_logs = "roles/storage.objectUser" }
      datasets     = { monitoring = "roles/bigquery.dataEditor" }
      firestore    = true
      list_buckets = false
    }
  }

  # Only the functions the manifest deploys.
  access = { for name, a in local.function_access : name => a if contains(keys(local.gcp_functions), name) }

  dataset_ids = {
    registry   = module.registry.registry_dataset_id
    monitoring = module.registry.monitoring_dataset_id
  }

  bucket_grants = merge([
    for name, a in local.access : {
      for role_of, role in a.buckets : "${name}/${role_of}" => { function = name, bucket = role_of, role = role }
    }
  ]...)

  dataset_grants = merge([
    for name, a in local.access : {
      for dataset, role in a.datasets : "${name}/${dataset}" => { function = name, dataset = dataset, role = role }
    }
  ]...)

  # drift runs may read BigQuery sources (bq://) besides Parquet in GCS.
  drift_source_grants = merge([
    for name, a in local.access : {
      for dataset in var.drift_source_datasets : "${name}/${dataset}" => { function = name, dataset = dataset }
    } if contains(keys(a.datasets), "monitoring")
  ]...)

  bigquery_job_users = toset([for name, a in local.access : name if length(a.datasets) > 0])
  firestore_users    = toset([for name, a in local.access : name if a.firestore])
  bucket_listers     = toset([for name, a in local.access : name if a.list_buckets])
}

resource "google_storage_bucket_iam_member" "function" {
  for_each = local.bucket_grants

  bucket = module.storage.bucket_names[each.value.bucket]
  role   = each.value.role
  member = "serviceAccount:${module.function[each.value.function].service_account_email}"
}

resource "google_bigquery_dataset_iam_member" "function" {
  for_each = local.dataset_grants

  project    = var.project_id
  dataset_id = local.dataset_ids[each.value.dataset]
  role       = each.value.role
  member     = "serviceAccount:${module.function[each.value.function].service_account_email}"
}

resource "google_bigquery_dataset_iam_member" "drift_sources" {
  for_each = local.drift_source_grants

  project    = var.project_id
  dataset_id = each.value.dataset
  role       = "roles/bigquery.dataViewer"
  member     = "serviceAccount:${module.function[each.value.function].service_account_email}"
}

# A query is a job of the project: jobUser has no narrower resource.
resource "google_project_iam_member" "bigquery_jobs" {
  for_each = local.bigquery_job_users

  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = "serviceAccount:${module.function[each.value].service_account_email}"
}

# Firestore's roles are project-wide (a database-scoped IAM condition is possible but not used here).
resource "google_project_iam_member" "firestore" {
  for_each = local.firestore_users

  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${module.function[each.value].service_account_email}"
}

# Listing buckets is a project permission; a custom role holds just that one.
resource "google_project_iam_custom_role" "bucket_lister" {
  count = length(local.bucket_listers) > 0 ? 1 : 0

  project     = var.project_id
  role_id     = "mlopsEventsBucketLister${title(var.env)}"
  title       = "mlops-events bucket lister (${var.env})"
  description = "storage.buckets.list only: reconcile_registry finds the model buckets by name."
  permissions = ["storage.buckets.list"]
}

resource "google_project_iam_member" "bucket_lister" {
  for_each = local.bucket_listers

  project = var.project_id
  role    = google_project_iam_custom_role.bucket_lister[0].id
  member  = "serviceAccount:${module.function[each.value].service_account_email}"
}
