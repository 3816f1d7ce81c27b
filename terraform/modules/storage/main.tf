# The buckets the code names: model buckets (register_model's trigger, the registry pins generations),
# drift data, drift reports, the inference service's captured predictions, and the functions' sources.

locals {
  # The code's patterns ({env}: the environment); every name gets var.name_prefix (bucket names are
  # global: an unprefixed ml-models-dev is anyone's to take first).
  patterns = {
    models      = var.model_bucket_pattern
    drift_data  = var.drift_data_bucket_pattern
    drift_logs  = var.drift_logs_bucket_pattern
    predictions = var.predictions_bucket_pattern
  }
  buckets = merge(
    { for role, pattern in local.patterns : role => replace("${var.name_prefix}${pattern}", "{env}", var.env) },
    { sources = var.sources_bucket_name },
  )
}

resource "google_storage_bucket" "this" {
  for_each = local.buckets
  # checkov:skip=CKV_GCP_62:Access logs go to Cloud Audit Logs (data access logs); a usage-log bucket would be one more bucket to keep.

  project                     = var.project_id
  name                        = each.value
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy
  labels                      = merge(var.labels, { env = var.env, role = replace(each.key, "_", "-") })

  # Versioning everywhere; on the model bucket it is what makes the registry's pinned generations
  # readable after an overwrite.
  versioning {
    enabled = true
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]

    content {
      default_kms_key_name = encryption.value
    }
  }

  # Old generations of everything but models (whose generations the registry may still serve).
  dynamic "lifecycle_rule" {
    for_each = each.key == "models" ? [] : [var.noncurrent_retention_days]

    content {
      condition {
        days_since_noncurrent_time = lifecycle_rule.value
        with_state                 = "ARCHIVED"
      }
      action {
        type = "Delete"
      }
    }
  }

  dynamic "lifecycle_rule" {
    for_each = each.key == "drift_logs" ? [var.drift_report_retention_days] : []

    content {
      condition {
        age            = lifecycle_rule.value
        matches_prefix = ["drift/"]
      }
      action {
        type = "Delete"
      }
    }
  }

  # Captured predictions (Parquet per model and day, mlops_inference.capture): kept as long as drift looks back.
  dynamic "lifecycle_rule" {
    for_each = each.key == "predictions" ? [var.prediction_retention_days] : []

    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }

  dynamic "lifecycle_rule" {
    for_each = each.key == "drift_logs" ? [var.drift_cache_retention_days] : []

    content {
      condition {
        age            = lifecycle_rule.value
        matches_prefix = ["drift-cache/"]
      }
      action {
        type = "Delete"
      }
    }
  }
}
