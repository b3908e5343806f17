-- gdpr_crm 1.0 — core: schema privileges and shared internals.
-- The script is assembled from src/sql/NN_*.sql in file-name order.
\echo Use "CREATE EXTENSION gdpr_crm CASCADE" to load this file. \quit

-- Everyone may see the schema; what inside it is granted is decided per object.
GRANT USAGE ON SCHEMA gdpr TO PUBLIC;

-- Statement trigger that invalidates per-backend caches built from the
-- extension's own tables (see gdpr_crm.c).
CREATE FUNCTION gdpr._relcache_inval() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'gdpr_relcache_inval';
REVOKE ALL ON FUNCTION gdpr._relcache_inval() FROM PUBLIC;
