-- gdpr_crm 1.0 — consent-checked purpose views (API section 4).
--
-- A purpose view shows the untagged columns and the columns tagged for its
-- purpose, and only the rows whose subject may be processed for it
-- (gdpr.may_process).  Views are kept in step by event triggers and by
-- gdpr._refresh_purpose_views(), which the label code may call directly.

CREATE TABLE gdpr.purpose_view_registry (
    view_schema name NOT NULL,
    view_name   name NOT NULL,
    relation    regclass NOT NULL,
    purpose     text NOT NULL,
    owner       name NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (view_schema, view_name)
);
CREATE INDEX purpose_view_registry_relation ON gdpr.purpose_view_registry (relation);
SELECT pg_catalog.pg_extension_config_dump('gdpr.purpose_view_registry', '');
REVOKE ALL ON gdpr.purpose_view_registry FROM PUBLIC;

-- grant_purpose(): roles that read every view of a purpose, now and later
CREATE TABLE gdpr.purpose_grant (
    role        name NOT NULL,
    purpose     text NOT NULL,
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role, purpose)
);
SELECT pg_catalog.pg_extension_config_dump('gdpr.purpose_grant', '');
REVOKE ALL ON gdpr.purpose_grant FROM PUBLIC;

-- schemas on which grant_purpose() gave USAGE (revoked with the last view)
CREATE TABLE gdpr.purpose_grant_schema (
    role        name NOT NULL,
    schema_name name NOT NULL,
    PRIMARY KEY (role, schema_name)
);
SELECT pg_catalog.pg_extension_config_dump('gdpr.purpose_grant_schema', '');
REVOKE ALL ON gdpr.purpose_grant_schema FROM PUBLIC;

CREATE VIEW gdpr.purpose_views AS
SELECT to_regclass(format('%I.%I', r.view_schema, r.view_name)) AS view,
       r.relation, r.purpose, r.owner, r.created_at
  FROM gdpr.purpose_view_registry r;
REVOKE ALL ON gdpr.purpose_views FROM PUBLIC;

CREATE FUNCTION gdpr.create_purpose_view(rel regclass, purpose text,
                                         view_name text DEFAULT NULL)
    RETURNS regclass
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_create_purpose_view';
REVOKE ALL ON FUNCTION gdpr.create_purpose_view(regclass, text, text) FROM PUBLIC;

CREATE FUNCTION gdpr.drop_purpose_view(view regclass)
    RETURNS void
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_drop_purpose_view';
REVOKE ALL ON FUNCTION gdpr.drop_purpose_view(regclass) FROM PUBLIC;

CREATE FUNCTION gdpr.grant_purpose(role name, purpose text)
    RETURNS void
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_grant_purpose';
REVOKE ALL ON FUNCTION gdpr.grant_purpose(name, text) FROM PUBLIC;

CREATE FUNCTION gdpr.revoke_purpose(role name, purpose text)
    RETURNS void
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_revoke_purpose';
REVOKE ALL ON FUNCTION gdpr.revoke_purpose(name, text) FROM PUBLIC;

-- Regenerate the purpose views of rel (and those that join through it);
-- NULL = all.  The label code calls this after a tag change.
CREATE FUNCTION gdpr._refresh_purpose_views(rel regclass DEFAULT NULL)
    RETURNS integer
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'gdpr_refresh_purpose_views';
REVOKE ALL ON FUNCTION gdpr._refresh_purpose_views(regclass) FROM PUBLIC;

-- Keeping views in step with DDL: before a DROP TABLE or an ALTER TABLE
-- that would fail on the view's dependency, the views step aside; after
-- the command they are regenerated (or forgotten with their table).
CREATE FUNCTION gdpr._purpose_views_ddl_start() RETURNS event_trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_purpose_views_ddl_start';
CREATE FUNCTION gdpr._purpose_views_ddl_end() RETURNS event_trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_purpose_views_ddl_end';
CREATE FUNCTION gdpr._purpose_views_sql_drop() RETURNS event_trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_purpose_views_sql_drop';
REVOKE ALL ON FUNCTION gdpr._purpose_views_ddl_start() FROM PUBLIC;
REVOKE ALL ON FUNCTION gdpr._purpose_views_ddl_end() FROM PUBLIC;
REVOKE ALL ON FUNCTION gdpr._purpose_views_sql_drop() FROM PUBLIC;

CREATE EVENT TRIGGER gdpr_purpose_views_ddl_start ON ddl_command_start
    WHEN TAG IN ('DROP TABLE', 'DROP FOREIGN TABLE', 'ALTER TABLE', 'ALTER FOREIGN TABLE')
    EXECUTE FUNCTION gdpr._purpose_views_ddl_start();
CREATE EVENT TRIGGER gdpr_purpose_views_ddl_end ON ddl_command_end
    WHEN TAG IN ('DROP TABLE', 'DROP FOREIGN TABLE', 'ALTER TABLE', 'ALTER FOREIGN TABLE',
                 'SECURITY LABEL', 'CREATE TABLE', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION gdpr._purpose_views_ddl_end();
CREATE EVENT TRIGGER gdpr_purpose_views_sql_drop ON sql_drop
    WHEN TAG IN ('DROP TABLE', 'DROP FOREIGN TABLE', 'DROP VIEW', 'DROP SCHEMA',
                 'DROP OWNED', 'ALTER TABLE')
    EXECUTE FUNCTION gdpr._purpose_views_sql_drop();
