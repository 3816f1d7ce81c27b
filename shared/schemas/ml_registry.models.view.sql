-- ml_registry.models: the registry's current state, one row per registered object version, read from
-- the append-only event log. The same columns and values the MERGE-maintained table had:
-- - a record_key counts once, with its first registration (a redelivery, or a row streamed twice, adds
--   nothing);
-- - deleted_at is the deletion's time (the earliest, when a deletion was delivered twice);
-- - superseded_by_generation is the newest generation of the same object when a newer one exists.
-- Used by shared/adapters/bigquery_registry.py (ensure_table) and terraform/modules/registry alike.
WITH registered AS (
  SELECT *
  FROM `${events_table}`
  WHERE kind = 'registered'
  QUALIFY ROW_NUMBER() OVER (PARTITION BY record_key ORDER BY registered_at, event_id) = 1
),
deleted AS (
  SELECT record_key, MIN(deleted_at) AS deleted_at
  FROM `${events_table}`
  WHERE kind = 'deleted'
  GROUP BY record_key
),
newest AS (
  SELECT bucket, object_name, MAX(generation) AS generation
  FROM registered
  GROUP BY bucket, object_name
)
SELECT
  r.record_key,
  r.env,
  r.model,
  r.version,
  r.path,
  r.bucket,
  r.object_name,
  r.generation,
  r.metageneration,
  r.size,
  r.md5_hash,
  r.crc32c,
  r.content_type,
  r.metadata,
  r.uploader,
  r.object_time,
  r.event_id,
  r.format,
  r.format_unsafe,
  r.format_detail,
  r.registered_at,
  r.registered_by,
  d.deleted_at,
  IF(n.generation > r.generation, n.generation, NULL) AS superseded_by_generation
FROM registered AS r
LEFT JOIN deleted AS d ON d.record_key = r.record_key
LEFT JOIN newest AS n ON n.bucket = r.bucket AND n.object_name = r.object_name
