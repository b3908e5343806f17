-- gdpr_crm 1.0 — purposes and lawful basis (API section 1).
-- The C side (src/purposes.c) caches gdpr.purpose per backend; the statement
-- trigger below invalidates that cache in every session on each change.

CREATE TABLE gdpr.purpose (
    name              text PRIMARY KEY
                      CHECK (name <> '' AND octet_length(name) < 64),
    legal_basis       text NOT NULL
                      CHECK (legal_basis IN ('consent', 'contract', 'legal_obligation',
                                             'vital_interests', 'public_task',
                                             'legitimate_interests')),
    retention         interval CHECK (retention > interval '0'),
    description       text,
    consent_valid_for interval CHECK (consent_valid_for > interval '0'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (consent_valid_for IS NULL OR legal_basis = 'consent')
);
COMMENT ON TABLE gdpr.purpose IS
    'Purposes of processing with their lawful basis (Art. 6) and retention (Art. 5(1)(e)); change with gdpr.define_purpose / gdpr.drop_purpose';
SELECT pg_catalog.pg_extension_config_dump('gdpr.purpose', '');
REVOKE ALL ON gdpr.purpose FROM PUBLIC;

CREATE TRIGGER purpose_relcache_inval
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON gdpr.purpose
    FOR EACH STATEMENT EXECUTE FUNCTION gdpr._relcache_inval();

CREATE VIEW gdpr.purposes AS
    SELECT name, legal_basis, retention, consent_valid_for, description,
           created_at, updated_at
      FROM gdpr.purpose;
COMMENT ON VIEW gdpr.purposes IS 'The purpose registry (API section 1)';
GRANT SELECT ON gdpr.purposes TO PUBLIC;

-- Internal: audit a purpose change (C, adds the acting role).
CREATE FUNCTION gdpr._purpose_audit(action text, details jsonb) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'gdpr_purpose_audit';
REVOKE ALL ON FUNCTION gdpr._purpose_audit(text, jsonb) FROM PUBLIC;

-- Internal: the purpose cache of this backend ('name:basis', ...), for tests.
CREATE FUNCTION gdpr._purpose_cache() RETURNS text[]
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'gdpr_purpose_cache';
REVOKE ALL ON FUNCTION gdpr._purpose_cache() FROM PUBLIC;

CREATE FUNCTION gdpr.define_purpose(name text, legal_basis text,
                                    retention interval DEFAULT NULL,
                                    description text DEFAULT NULL,
                                    consent_valid_for interval DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_old gdpr.purpose;
    v_basis text := lower(btrim(legal_basis));
BEGIN
    IF define_purpose.name IS NULL THEN
        RAISE EXCEPTION 'purpose name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF define_purpose.legal_basis IS NULL THEN
        RAISE EXCEPTION 'legal_basis must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Allowed: consent, contract, legal_obligation, vital_interests, public_task, legitimate_interests.';
    END IF;
    IF define_purpose.name = '' OR octet_length(define_purpose.name) > 63 THEN
        RAISE EXCEPTION 'invalid purpose name "%"', define_purpose.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A purpose name has 1 to 63 bytes; names that are not all lower case must be quoted in labels.';
    END IF;
    IF v_basis NOT IN ('consent', 'contract', 'legal_obligation', 'vital_interests',
                       'public_task', 'legitimate_interests') THEN
        RAISE EXCEPTION 'invalid legal basis "%" for purpose "%"', define_purpose.legal_basis, define_purpose.name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The lawful bases of GDPR Art. 6(1).',
                  HINT = 'Allowed: consent, contract, legal_obligation, vital_interests, public_task, legitimate_interests.';
    END IF;
    IF retention IS NOT NULL AND retention <= interval '0' THEN
        RAISE EXCEPTION 'retention of purpose "%" must be positive, not %', define_purpose.name, retention
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give an interval such as ''7 years'', or NULL for no automatic expiry.';
    END IF;
    IF consent_valid_for IS NOT NULL AND consent_valid_for <= interval '0' THEN
        RAISE EXCEPTION 'consent_valid_for of purpose "%" must be positive, not %', define_purpose.name, consent_valid_for
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give an interval such as ''2 years'', or NULL for consent that does not expire by itself.';
    END IF;
    IF consent_valid_for IS NOT NULL AND v_basis <> 'consent' THEN
        RAISE EXCEPTION 'consent_valid_for given for purpose "%" whose legal basis is %', define_purpose.name, v_basis
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'consent_valid_for applies only to purposes with legal basis consent.';
    END IF;

    SELECT * INTO v_old FROM gdpr.purpose p WHERE p.name = define_purpose.name FOR UPDATE;
    IF FOUND THEN
        UPDATE gdpr.purpose p
           SET legal_basis = v_basis, retention = define_purpose.retention,
               description = define_purpose.description,
               consent_valid_for = define_purpose.consent_valid_for,
               updated_at = now()
         WHERE p.name = define_purpose.name;
    ELSE
        INSERT INTO gdpr.purpose (name, legal_basis, retention, description, consent_valid_for)
        VALUES (define_purpose.name, v_basis, define_purpose.retention,
                define_purpose.description, define_purpose.consent_valid_for);
    END IF;

    PERFORM gdpr._purpose_audit('purpose.define',
        jsonb_build_object('purpose', define_purpose.name,
                           'legal_basis', v_basis,
                           'retention', define_purpose.retention::text,
                           'consent_valid_for', define_purpose.consent_valid_for::text,
                           'created', v_old.name IS NULL)
        || CASE WHEN v_old.name IS NOT NULL THEN
               jsonb_build_object('previous', jsonb_build_object(
                   'legal_basis', v_old.legal_basis,
                   'retention', v_old.retention::text,
                   'consent_valid_for', v_old.consent_valid_for::text))
           ELSE '{}'::jsonb END);
END;
$$;
REVOKE ALL ON FUNCTION gdpr.define_purpose(text, text, interval, text, interval) FROM PUBLIC;

CREATE FUNCTION gdpr.drop_purpose(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_users text[] := '{}';
    v_list text;
    v_n bigint;
BEGIN
    IF drop_purpose.name IS NULL THEN
        RAISE EXCEPTION 'purpose name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- The label provider takes ROW SHARE on gdpr.purpose while it checks a
    -- label's purposes: a concurrent SECURITY LABEL naming this purpose
    -- either commits before us (and is seen below) or fails after us.
    LOCK TABLE gdpr.purpose IN EXCLUSIVE MODE;
    PERFORM 1 FROM gdpr.purpose p WHERE p.name = drop_purpose.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'purpose "%" does not exist', drop_purpose.name
            USING ERRCODE = 'undefined_object',
                  HINT = 'See gdpr.purposes for the defined purposes.';
    END IF;

    SELECT string_agg(format('%s.%I', t.relation, t.column_name), ', '
                      ORDER BY t.relation::text, t.column_name)
      INTO v_list
      FROM gdpr.column_tags t
     WHERE drop_purpose.name = ANY (t.purposes);
    IF v_list IS NOT NULL THEN
        v_users := v_users || ('tagged columns: ' || v_list);
    END IF;

    IF to_regclass('gdpr.purpose_views') IS NOT NULL THEN
        EXECUTE 'SELECT string_agg(v.view::text, '', '' ORDER BY v.view::text)
                   FROM gdpr.purpose_views v WHERE v.purpose = $1'
           INTO v_list USING drop_purpose.name;
        IF v_list IS NOT NULL THEN
            v_users := v_users || ('purpose views: ' || v_list);
        END IF;
    END IF;

    IF to_regclass('gdpr.consent_events') IS NOT NULL THEN
        EXECUTE 'SELECT count(*) FROM gdpr.consent_events c WHERE c.purpose = $1'
           INTO v_n USING drop_purpose.name;
        IF v_n > 0 THEN
            v_users := v_users || (v_n || ' consent record(s) in gdpr.consent_events');
        END IF;
    END IF;

    IF cardinality(v_users) > 0 THEN
        RAISE EXCEPTION 'purpose "%" is still in use', drop_purpose.name
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = 'Used by ' || array_to_string(v_users, '; ') || '.',
                  HINT = 'Untag the columns (gdpr.untag_column or gdpr.tag_column without this purpose) and drop the purpose views (gdpr.drop_purpose_view) first; consent records are evidence and stay until the subjects are erased.';
    END IF;

    DELETE FROM gdpr.purpose p WHERE p.name = drop_purpose.name;
    PERFORM gdpr._purpose_audit('purpose.drop', jsonb_build_object('purpose', drop_purpose.name));
END;
$$;
REVOKE ALL ON FUNCTION gdpr.drop_purpose(text) FROM PUBLIC;
