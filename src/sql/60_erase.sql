-- gdpr_crm 1.0 — erasure (API sections 5 and 11).
--
-- gdpr.erase() walks the subject graph (src/graph.c) and deletes, keeps or
-- anonymizes every row of one data subject in one statement (src/erase.c).
-- It runs with the caller's rights: the caller needs the privileges on the
-- tables it erases from (the DBA grants EXECUTE to the DPO's role).

-- neutral values for NOT NULL columns that a unique index covers: erased-<n>
CREATE SEQUENCE gdpr.erase_seq;
GRANT USAGE ON SEQUENCE gdpr.erase_seq TO PUBLIC;

CREATE FUNCTION gdpr.erase(subject regclass, subject_key anyelement,
                           reason text DEFAULT NULL, dry_run boolean DEFAULT false)
    RETURNS TABLE(relation regclass, action text, "rows" bigint)
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_erase';
REVOKE ALL ON FUNCTION gdpr.erase(regclass, anyelement, text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION gdpr.erase(regclass, anyelement, text, boolean) IS
    'Art. 17 erasure of one data subject: deletes its rows, keeps and anonymizes what a legal obligation still needs; dry_run only reports.';

-- An untyped literal key ('42') resolves to this overload (anyelement cannot
-- take an unknown literal); same function.
CREATE FUNCTION gdpr.erase(subject regclass, subject_key text,
                           reason text DEFAULT NULL, dry_run boolean DEFAULT false)
    RETURNS TABLE(relation regclass, action text, "rows" bigint)
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_erase';
REVOKE ALL ON FUNCTION gdpr.erase(regclass, text, text, boolean) FROM PUBLIC;

-- Every row of one subject across the graph (the reach of erase), for
-- export and registers.  part is the partition that holds the row.
CREATE FUNCTION gdpr._subject_reach(subject regclass, subject_key anyelement)
    RETURNS TABLE(relation regclass, row_ctid tid, part regclass)
    LANGUAGE c STABLE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_subject_reach';
REVOKE ALL ON FUNCTION gdpr._subject_reach(regclass, anyelement) FROM PUBLIC;
CREATE FUNCTION gdpr._subject_reach(subject regclass, subject_key text)
    RETURNS TABLE(relation regclass, row_ctid tid, part regclass)
    LANGUAGE c STABLE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_subject_reach';
REVOKE ALL ON FUNCTION gdpr._subject_reach(regclass, text) FROM PUBLIC;
