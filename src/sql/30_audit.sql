-- gdpr_crm 1.0 — audit (API section 7): the per-database secret, the
-- hash-chained append-only audit log, verify_audit() and subject_ref().
-- See docs/audit.md for how the chain works and what verify proves.

---------------------------------------------------------------------------
-- The per-database secret: 32 random bytes made at CREATE EXTENSION.  It keys
-- subject_ref() and the consent tokens.  No role but the owner (the
-- superuser who created the extension) can read it; the C code reads it
-- without privilege checks.
CREATE TABLE gdpr.secret (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    secret    bytea NOT NULL CHECK (length(secret) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON gdpr.secret FROM PUBLIC;
COMMENT ON TABLE gdpr.secret IS
    'gdpr_crm per-database secret (keys subject_ref and consent tokens); readable by nobody but its owner';

-- pg_dump keeps the row (the secret must survive a dump/restore so that
-- subject_refs and consent tokens stay valid).  A restore first runs CREATE
-- EXTENSION, which makes a fresh row, and then loads the dumped one: the
-- dumped row wins.
CREATE FUNCTION gdpr._secret_replace() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM gdpr.secret;
    RETURN NEW;
END;
$$;
REVOKE ALL ON FUNCTION gdpr._secret_replace() FROM PUBLIC;
CREATE TRIGGER secret_replace BEFORE INSERT ON gdpr.secret
    FOR EACH ROW EXECUTE FUNCTION gdpr._secret_replace();
-- every backend caches the secret: tell them when it changes
CREATE TRIGGER secret_inval AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON gdpr.secret
    FOR EACH STATEMENT EXECUTE FUNCTION gdpr._relcache_inval();

-- pgcrypto's schema is on the search_path while this script runs
INSERT INTO gdpr.secret (secret) VALUES (gen_random_bytes(32));
SELECT pg_catalog.pg_extension_config_dump('gdpr.secret', '');

---------------------------------------------------------------------------
-- The audit log.  Rows are written only by the extension, at commit, in
-- chain order (id = previous id + 1, no gaps); hash = SHA-256 of a
-- canonical serialisation of the row (relation_name, not the OID) and
-- prev_hash.  relation is a live reference for convenience (it follows
-- renames); relation_name is the name when the entry was written and is
-- what the hash covers.
CREATE TABLE gdpr.audit_log (
    id            bigint PRIMARY KEY,
    at            timestamptz NOT NULL,
    actor         name NOT NULL,
    action        text NOT NULL,
    subject_ref   text,
    relation      regclass,
    details       jsonb,
    prev_hash     bytea NOT NULL,
    hash          bytea NOT NULL,
    relation_name text
);
REVOKE ALL ON gdpr.audit_log FROM PUBLIC;
COMMENT ON TABLE gdpr.audit_log IS
    'gdpr_crm audit log: append-only, hash-chained (check with gdpr.verify_audit())';
-- No index but the primary key: every index is written under the chain
-- lock.  Auditors who look up entries by subject often can add one
-- (CREATE INDEX ON gdpr.audit_log (subject_ref)); it is maintained, and dumped.
SELECT pg_catalog.pg_extension_config_dump('gdpr.audit_log', '');

-- Append-only for everybody, the owner included.
CREATE FUNCTION gdpr._audit_log_refuse() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'gdpr_audit_log_refuse';
REVOKE ALL ON FUNCTION gdpr._audit_log_refuse() FROM PUBLIC;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON gdpr.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION gdpr._audit_log_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON gdpr.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION gdpr._audit_log_refuse();

-- Rows arriving through SQL (only a restore does that: the extension writes
-- its own rows without firing triggers) carry a regclass that a dump wrote
-- as an OID number when the relation had been dropped; that number means
-- nothing in the new database.
CREATE FUNCTION gdpr._audit_log_restore() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.relation IS NOT NULL
       AND (NEW.relation_name IS NULL
            OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = NEW.relation)) THEN
        NEW.relation := NULL;
    END IF;
    RETURN NEW;
END;
$$;
REVOKE ALL ON FUNCTION gdpr._audit_log_restore() FROM PUBLIC;
CREATE TRIGGER audit_log_restore BEFORE INSERT ON gdpr.audit_log
    FOR EACH ROW EXECUTE FUNCTION gdpr._audit_log_restore();

---------------------------------------------------------------------------
-- Functions.

-- gdpr._audit(action, subject_ref, relation, details): queue an entry from
-- SQL-written capabilities; written and chained at commit.
CREATE FUNCTION gdpr._audit(action text, subject_ref text, relation regclass, details jsonb)
    RETURNS void
    LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'gdpr_audit_sql';
REVOKE ALL ON FUNCTION gdpr._audit(text, text, regclass, jsonb) FROM PUBLIC;

-- Recompute the chain.  anchor_id/anchor_hash: an entry recorded outside
-- the database earlier (gdpr.audit_head()); checks it is still there,
-- unchanged, which also detects a removed tail.
CREATE FUNCTION gdpr.verify_audit(anchor_id bigint DEFAULT NULL, anchor_hash bytea DEFAULT NULL)
    RETURNS TABLE (ok boolean, checked bigint, first_bad_id bigint)
    LANGUAGE c STABLE PARALLEL UNSAFE CALLED ON NULL INPUT
    AS 'MODULE_PATHNAME', 'gdpr_verify_audit';
REVOKE ALL ON FUNCTION gdpr.verify_audit(bigint, bytea) FROM PUBLIC;

-- The newest entry: record (id, hash) outside the database as an anchor.
CREATE FUNCTION gdpr.audit_head(OUT id bigint, OUT hash bytea)
    RETURNS record
    LANGUAGE c STABLE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'gdpr_audit_head';
REVOKE ALL ON FUNCTION gdpr.audit_head() FROM PUBLIC;

-- Keyed hash of (subject table, key): hex HMAC-SHA256 with the secret.
CREATE FUNCTION gdpr.subject_ref(subject regclass, subject_key anyelement)
    RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'gdpr_subject_ref_sql';
REVOKE ALL ON FUNCTION gdpr.subject_ref(regclass, anyelement) FROM PUBLIC;
-- the same for a key given as text (also makes an untyped literal '42' work)
CREATE FUNCTION gdpr.subject_ref(subject regclass, subject_key text)
    RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'gdpr_subject_ref_sql';
REVOKE ALL ON FUNCTION gdpr.subject_ref(regclass, text) FROM PUBLIC;
