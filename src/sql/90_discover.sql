-- gdpr_crm 1.0 — discovery of untagged personal data (API section 10).
-- Detectors in C (src/detectors.c); see docs/discover.md.

-- One detector on one value, for tests: email, phone, phone_loose, iban, bsn,
-- card, ipv4, ipv6, postcode_nl, email_in_text, phone_in_text, iban_in_text,
-- date_of_birth.
CREATE FUNCTION gdpr._detect(detector text, value text) RETURNS boolean
    LANGUAGE c STRICT STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'gdpr_detect';
REVOKE ALL ON FUNCTION gdpr._detect(text, text) FROM PUBLIC;

-- The column-name signal of a column in a relation, for tests:
-- 'category confidence word flags', NULL when the name says nothing.
CREATE FUNCTION gdpr._name_signal(column_name text, relation_name text DEFAULT '')
    RETURNS text
    LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'gdpr_name_signal_sql';
REVOKE ALL ON FUNCTION gdpr._name_signal(text, text) FROM PUBLIC;

-- Per-detector match counts over a column's values (slot 1 counts the
-- non-null values; see detectors.h for the slots).  discover runs it in its
-- one sample query per table.  It returns counts only, never values, of data
-- the caller can read anyway, so a role granted discover can use it.
CREATE FUNCTION gdpr._detect_counts_accum(int8[], text) RETURNS int8[]
    LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'gdpr_detect_counts_accum';
CREATE AGGREGATE gdpr._detect_counts(text) (
    SFUNC = gdpr._detect_counts_accum,
    STYPE = int8[],
    INITCOND = '{0,0,0,0,0,0,0,0,0,0,0,0,0}'
);
GRANT EXECUTE ON FUNCTION gdpr._detect_counts_accum(int8[], text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION gdpr._detect_counts(text) TO PUBLIC;

-- Slot names of gdpr._detect_counts, in order.
CREATE FUNCTION gdpr._detector_slots() RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$SELECT ARRAY['nonnull', 'email', 'phone', 'phone_loose', 'iban', 'bsn', 'card',
               'ipv4', 'ipv6', 'postcode_nl', 'email_in_text', 'phone_in_text',
               'iban_in_text']$$;
GRANT EXECUTE ON FUNCTION gdpr._detector_slots() TO PUBLIC;

-- Samples every user table the caller can read (with the caller's
-- privileges) and reports columns that hold personal data.  Reads every
-- table: not granted to PUBLIC.  The API form has one argument; a second
-- form takes the report threshold (0.5 by default).
CREATE FUNCTION gdpr.discover(sample_rows int DEFAULT 1000)
    RETURNS TABLE(relation regclass, column_name name, category text,
                  confidence real, evidence text)
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_discover';
REVOKE ALL ON FUNCTION gdpr.discover(int) FROM PUBLIC;
CREATE FUNCTION gdpr.discover(sample_rows int, min_confidence real)
    RETURNS TABLE(relation regclass, column_name name, category text,
                  confidence real, evidence text)
    LANGUAGE c VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_discover';
REVOKE ALL ON FUNCTION gdpr.discover(int, real) FROM PUBLIC;
