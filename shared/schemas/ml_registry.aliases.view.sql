-- ml_registry.aliases: where each alias of a model points now, per env: its last move in the event log.
-- Every move stays in the log (kind = 'alias_moved'): who moved it, when, from which version. A move
-- appended twice counts once (its first copy, by event_key).
-- Used by shared/adapters/bigquery_registry.py (ensure_table) and terraform/modules/registry alike.
WITH moves AS (
  SELECT *
  FROM `${events_table}`
  WHERE kind = 'alias_moved'
  QUALIFY ROW_NUMBER() OVER (PARTITION BY event_key ORDER BY event_time) = 1
)
SELECT env, model, alias, version, previous_version, moved_by, event_time AS moved_at
FROM moves
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (PARTITION BY env, model, alias ORDER BY event_time DESC, event_key DESC) = 1
