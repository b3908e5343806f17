-- gdpr_crm 1.0 — retention expiry (API section 6): gdpr.expire() and the
-- log of the background worker's runs.

-- One row per batch and action of the worker (and per relation and action
-- of gdpr.expire()), or per failed batch with its error.  Bounded by
-- gdpr.retention_runs_keep.  Errors are messages only (no details, which
-- may quote values); still, the log is not for PUBLIC.
CREATE TABLE gdpr.retention_run (
    id            bigserial PRIMARY KEY,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL,
    relid         oid,
    relation_name text,
    action        text CHECK (action IN ('deleted', 'anonymized', 'nulled')),
    rows          bigint NOT NULL DEFAULT 0,
    error         text,
    source        text NOT NULL DEFAULT 'worker' CHECK (source IN ('worker', 'expire()'))
);
CREATE INDEX ON gdpr.retention_run (finished_at);
REVOKE ALL ON TABLE gdpr.retention_run FROM PUBLIC;

-- relation is NULL once the table is dropped; relation_name stays.
CREATE VIEW gdpr.retention_runs AS
SELECT r.started_at, r.finished_at,
       CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = r.relid)
            THEN r.relid::regclass END AS relation,
       r.action, r.rows, r.error, r.source, r.relation_name
  FROM gdpr.retention_run r;
REVOKE ALL ON TABLE gdpr.retention_runs FROM PUBLIC;

CREATE FUNCTION gdpr.expire(dry_run boolean DEFAULT false)
RETURNS TABLE(relation regclass, action text, rows bigint)
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_expire';
REVOKE ALL ON FUNCTION gdpr.expire(boolean) FROM PUBLIC;
COMMENT ON FUNCTION gdpr.expire(boolean) IS
    'One full retention pass now: columns whose purposes ran out are nulled, rows deleted or anonymized (waits for rows others hold, like DELETE); dry_run only reports.';

CREATE FUNCTION gdpr.expire_nowait(batch_size integer DEFAULT 10000)
RETURNS TABLE(relation regclass, action text, rows bigint)
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_expire_nowait';
REVOKE ALL ON FUNCTION gdpr.expire_nowait(integer) FROM PUBLIC;
COMMENT ON FUNCTION gdpr.expire_nowait(integer) IS
    'One full retention pass the way the worker does it: batches, rows others hold skipped (never waits for them).';
