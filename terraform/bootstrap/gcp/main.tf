# Run once per GCP project, by a person with owner rights, before terraform.yml or
# deploy-containers.yml can run: the bucket the environments' states live in, the Workload Identity
# pool and provider GitHub's tokens are exchanged at (this repository's only), the identities the
# workflows act as, and the Artifact Registry repository the image workflow pushes to. Its outputs
# are the values of the workflows' variables (output github_variables; README, Bootstrap).

provider "google" {
  project = var.project_id
  region  = var.region
  # As in the environment roots: API calls billed to the project, so user credentials are accepted.
  billing_project       = coalesce(var.billing_project, var.project_id)
  user_project_override = true
}

locals {
  state_bucket = coalesce(var.state_bucket, "${var.project_id}-tfstate")

  # One apply and one plan identity per environment, each usable only from its GitHub environment
  # (terraform.yml: the apply job runs in <env>, the pull request's plan in <env>-plan).
  identities = merge(
    { for env in var.environments : env => { kind = "apply", account_id = "tf-apply-${env}", github_environment = env } },
    { for env in var.environments : "${env}-plan" => { kind = "plan", account_id = "tf-plan-${env}", github_environment = "${env}-plan" } },
  )
  # Deterministic (user-managed service accounts): known in a first plan, for the outputs.
  emails = { for key, identity in local.identities : key => "${identity.account_id}@${var.project_id}.iam.gserviceaccount.com" }

  # What terraform/environment/gcp creates (modules/platform: functions and their builds, Cloud Run,
  # Eventarc, Pub/Sub, Scheduler, Secret Manager secrets without values, BigQuery, Firestore, buckets,
  # service accounts with project and resource grants, a custom role, the budget; the monitoring
  # module's log-based metrics, alert policies and channels), and the API calls billed to the project.
  apply_roles = [
    "roles/bigquery.admin",
    "roles/cloudfunctions.admin",
    "roles/cloudscheduler.admin",
    "roles/datastore.owner",
    "roles/eventarc.admin",
    "roles/iam.roleAdmin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountUser",
    "roles/logging.configWriter",
    "roles/monitoring.editor",
    "roles/pubsub.admin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/run.admin",
    "roles/secretmanager.admin",
    "roles/serviceusage.serviceUsageConsumer",
    "roles/storage.admin",
  ]
  # A plan refreshes every resource and its IAM policy: read-only roles of the same services.
  plan_roles = [
    "roles/bigquery.metadataViewer",
    "roles/browser",
    "roles/cloudfunctions.viewer",
    "roles/cloudscheduler.viewer",
    "roles/datastore.viewer",
    "roles/eventarc.viewer",
    "roles/iam.roleViewer",
    "roles/iam.securityReviewer",
    "roles/iam.serviceAccountViewer",
    "roles/logging.viewer",
    "roles/monitoring.viewer",
    "roles/pubsub.viewer",
    "roles/run.viewer",
    "roles/secretmanager.viewer",
    "roles/serviceusage.serviceUsageConsumer",
    "roles/storage.objectViewer",
  ]
  roles = { apply = local.apply_roles, plan = local.plan_roles }
  grants = {
    for pair in flatten([
      for key, identity in local.identities : [
        for role in local.roles[identity.kind] : { key = key, kind = identity.kind, role = role }
      ]
    ]) : "${pair.key} ${pair.role}" => pair
  }

  provider_condition = join(" && ", compact([
    "assertion.repository == '${var.github_repository}'",
    var.github_repository_id == null ? "" : "assertion.repository_id == '${var.github_repository_id}'",
  ]))
}

resource "google_project_service" "this" {
  for_each = toset(var.services)

  service            = each.value
  disable_on_destroy = false
}

resource "google_storage_bucket" "state" {
  # checkov:skip=CKV_GCP_62:Access to the states is in Cloud Audit Logs (data access logs); a usage-log bucket would be one more bucket to keep.
  name                        = local.state_bucket
  location                    = var.state_location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = var.labels

  # Every write of a state keeps the one before: a broken apply is undone by restoring a version.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    action {
      type = "Delete"
    }
    condition {
      num_newer_versions = var.state_versions_kept
      with_state         = "ARCHIVED"
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_iam_workload_identity_pool" "github" {
  workload_identity_pool_id = "github"
  display_name              = "GitHub Actions"
  description               = "Tokens of ${var.github_repository}'s workflows"

  depends_on = [google_project_service.this]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  # checkov:skip=CKV_GCP_125:The condition admits this repository's tokens only (assertion.repository, and its id when given), as Google recommends; which job may act as which identity is each binding's: one subject (repo:OWNER/REPO:environment:ENV) per Terraform identity, main and v* tags for the image publisher. One assertion.sub here, as the check wants, would serve one identity only.
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github"
  display_name                       = "GitHub Actions OIDC"
  # Tokens of any other repository are refused here, before any binding is looked at.
  attribute_condition = local.provider_condition
  attribute_mapping = {
    # repo:OWNER/REPO:environment:NAME for a job in a GitHub environment, repo:OWNER/REPO:ref:REF otherwise.
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.repository"
    "attribute.ref"        = "assertion.ref"
    # The refs deploy-containers.yml runs on: main and v* tags, not a manual run from another branch.
    "attribute.image_publisher" = "(assertion.ref == 'refs/heads/main' || assertion.ref.startsWith('refs/tags/v')) ? 'true' : 'false'"
  }

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "terraform" {
  for_each = local.identities

  account_id   = each.value.account_id
  display_name = "Terraform ${each.value.kind} (GitHub environment ${each.value.github_environment})"
  description  = "terraform.yml's ${each.value.kind} identity in the GitHub environment ${each.value.github_environment} of ${var.github_repository}."
}

# Only a job of this repository running in the identity's GitHub environment may act as it.
resource "google_service_account_iam_member" "terraform_github" {
  for_each = local.identities

  service_account_id = google_service_account.terraform[each.key].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principal://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/subject/repo:${var.github_repository}:environment:${each.value.github_environment}"
}

resource "google_project_iam_member" "apply" {
  # Service Account User at project level: the functions, Cloud Run and Scheduler jobs run as service
  # accounts the same apply creates, so actAs cannot be granted per account before they exist; Service
  # Account Admin and Project IAM Admin: the apply creates those accounts and grants their roles. The
  # identity is usable only from its GitHub environment (give prod required reviewers).
  for_each = { for key, grant in local.grants : key => grant if grant.kind == "apply" }

  project = var.project_id
  role    = each.value.role
  member  = "serviceAccount:${google_service_account.terraform[each.value.key].email}"
}

resource "google_project_iam_member" "plan" {
  for_each = { for key, grant in local.grants : key => grant if grant.kind == "plan" }

  project = var.project_id
  role    = each.value.role
  member  = "serviceAccount:${google_service_account.terraform[each.value.key].email}"
}

# The states: applies read and write them; plans read them and take the lock (terraform writes and
# deletes <prefix>/<workspace>.tflock beside the state), nothing else.
resource "google_storage_bucket_iam_member" "state_apply" {
  for_each = { for key, identity in local.identities : key => identity if identity.kind == "apply" }

  bucket = google_storage_bucket.state.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.terraform[each.key].email}"
}

resource "google_storage_bucket_iam_member" "state_plan_read" {
  for_each = { for key, identity in local.identities : key => identity if identity.kind == "plan" }

  bucket = google_storage_bucket.state.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.terraform[each.key].email}"
}

resource "google_storage_bucket_iam_member" "state_plan_lock" {
  for_each = { for key, identity in local.identities : key => identity if identity.kind == "plan" }

  bucket = google_storage_bucket.state.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.terraform[each.key].email}"

  condition {
    title       = "lock-files-only"
    description = "A plan writes and deletes the state's lock, never the state."
    expression  = "resource.name.endsWith('.tflock')"
  }
}

# The budget lives on the billing account, not in the project.
resource "google_billing_account_iam_member" "terraform" {
  for_each = var.billing_account == null ? {} : local.identities

  billing_account_id = var.billing_account
  role               = each.value.kind == "apply" ? "roles/billing.costsManager" : "roles/billing.viewer"
  member             = "serviceAccount:${google_service_account.terraform[each.key].email}"
}

# -- images: the repository deploy-containers.yml pushes the inference image to ---------------------

resource "google_artifact_registry_repository" "images" {
  # checkov:skip=CKV_GCP_84:Images hold code and no data; Google-managed encryption. A CMEK would be one more key to keep available for every pull.
  count = var.images ? 1 : 0

  repository_id = var.image_repository
  location      = var.region
  format        = "DOCKER"
  description   = "The inference images (deploy-containers.yml); Cloud Run and the batch job pull them by digest."
  labels        = var.labels

  # KEEP wins over DELETE: the most recent versions stay whatever their tags; of the rest, untagged
  # versions (a sha tag moved on, a build's intermediate manifests) go once old enough. Tagged ones stay.
  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-most-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.image_keep_count
    }
  }
  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "${var.image_untagged_days * 86400}s"
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_service_account" "images" {
  count = var.images ? 1 : 0

  account_id   = "gh-image-publisher"
  display_name = "Image publisher (deploy-containers.yml)"
  description  = "Pushes the inference image to ${var.image_repository}, from ${var.github_repository}'s main branch and v* tags only."
}

resource "google_artifact_registry_repository_iam_member" "images_writer" {
  count = var.images ? 1 : 0

  location   = google_artifact_registry_repository.images[0].location
  repository = google_artifact_registry_repository.images[0].name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.images[0].email}"
}

resource "google_service_account_iam_member" "images_github" {
  count = var.images ? 1 : 0

  service_account_id = google_service_account.images[0].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.image_publisher/true"
}
