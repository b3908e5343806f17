-- gdpr_crm 1.0 — the compliance self-check (API section 10).
--
-- One row per finding: check_name, status (ok | warn | fail), detail (what
-- is wrong and how to fix it).  A check that finds nothing returns one 'ok'
-- row, so the report always lists every check.  SECURITY DEFINER because it
-- reads pg_hba_file_rules, the audit chain and the registers; granted to
-- nobody by default.

-- Column names that look personal (when gdpr.discover() is not available).
CREATE FUNCTION gdpr._personal_name_pattern() RETURNS text
    LANGUAGE sql IMMUTABLE
    RETURN '(^|_)(e_?mail|email_?address|phone|telephone|telefoon|mobile|mobiel|fax|'
           'first_?name|last_?name|full_?name|surname|given_?name|voornaam|achternaam|naam|'
           'address|adres|street|straat|postcode|postal_?code|zip|woonplaats|'
           'birth_?date|date_of_birth|dob|geboortedatum|birthday|gender|geslacht|'
           'iban|bank_?account|credit_?card|bsn|ssn|social_security|passport|paspoort|'
           'ip|ip_?address|ip_?adres|latitude|longitude|health|diagnosis|religion|ethnicity)($|_)';

-- Transport encryption (Art. 32(1)(a)), for the given listen_addresses and
-- ssl settings (parameters so that every branch can be tested): Unix
-- sockets only is fine; TCP without ssl fails; with ssl, pg_hba.conf lines
-- that still allow unencrypted TCP (host, hostnossl) are findings, a
-- loopback-only line a warning.
CREATE FUNCTION gdpr._transport_findings(listen_addresses text, ssl text)
    RETURNS TABLE(status text, detail text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    rec    record;
    found_ boolean := false;
BEGIN
    IF coalesce(listen_addresses, '') = '' THEN
        status := 'ok'; detail := 'the server accepts only Unix-domain socket connections (listen_addresses is empty)';
        RETURN NEXT;
        RETURN;
    END IF;
    IF ssl IS DISTINCT FROM 'on' THEN
        status := 'fail';
        detail := format('ssl is off while the server listens on %s: personal data travel unencrypted. Fix: set ssl = on with ssl_cert_file/ssl_key_file in postgresql.conf and use hostssl lines in pg_hba.conf.',
                         listen_addresses);
        RETURN NEXT;
        RETURN;
    END IF;
    FOR rec IN
        SELECT h.line_number, h.type, h.database, h.user_name, h.address, h.auth_method
          FROM pg_hba_file_rules h
         WHERE h.type IN ('host', 'hostnossl') AND h.auth_method <> 'reject' AND h.error IS NULL
         ORDER BY h.line_number
    LOOP
        status := CASE WHEN rec.address IN ('127.0.0.1', '::1', 'localhost') THEN 'warn' ELSE 'fail' END;
        detail := format('pg_hba.conf line %s (%s %s %s %s %s) allows connections without TLS. Fix: change it to hostssl (or add a hostnossl ... reject line before it) and reload.',
                         rec.line_number, rec.type, array_to_string(rec.database, ','),
                         array_to_string(rec.user_name, ','), coalesce(rec.address, ''), rec.auth_method);
        RETURN NEXT;
        found_ := true;
    END LOOP;
    IF NOT found_ THEN
        status := 'ok'; detail := 'ssl is on and pg_hba.conf allows only encrypted TCP connections';
        RETURN NEXT;
    END IF;
END;
$$;
REVOKE ALL ON FUNCTION gdpr._transport_findings(text, text) FROM PUBLIC;

CREATE FUNCTION gdpr.compliance_report()
    RETURNS TABLE(check_name text, status text, detail text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET DateStyle = 'ISO, YMD'
    SET IntervalStyle = postgres
AS $$
#variable_conflict use_column
DECLARE
    rec    record;
    found_ boolean;
    n      bigint;
    sql    text;
BEGIN
    ---------------------------------------------------------------- 1
    check_name := 'untagged_personal_columns';
    found_ := false;
    IF to_regprocedure('gdpr.discover(integer)') IS NOT NULL THEN
        sql := 'SELECT d.relation, d.column_name, d.category, d.evidence
                  FROM gdpr.discover(200) d
                 WHERE d.confidence >= 0.5
                   AND NOT EXISTS (SELECT 1 FROM gdpr.column_tags t
                                    WHERE t.relation = d.relation AND t.column_name = d.column_name)
                 ORDER BY d.relation::text, d.column_name';
    ELSE
        sql := format(
               'SELECT c.oid::regclass AS relation, a.attname AS column_name, NULL::text AS category,
                       ''the column name looks personal''::text AS evidence
                  FROM pg_class c
                  JOIN pg_namespace ns ON ns.oid = c.relnamespace
                  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                 WHERE c.relkind IN (''r'', ''p'') AND NOT c.relispartition
                   AND ns.nspname NOT IN (''gdpr'', ''pg_catalog'', ''information_schema'', ''pg_toast'')
                   AND ns.nspname !~ ''^pg_temp''
                   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = ''pg_class''::regclass
                                      AND d.objid = c.oid AND d.deptype = ''e'')
                   AND lower(a.attname) ~ %L
                   AND lower(a.attname) !~ ''(^|_)(id|nr|no|key|code|type)$''
                   AND NOT EXISTS (SELECT 1 FROM gdpr.column_tags t
                                    WHERE t.relation = c.oid AND t.column_name = a.attname)
                   AND NOT EXISTS (SELECT 1 FROM gdpr.subject_tables s
                                    WHERE s.relation = c.oid AND s.key_column = a.attname)
                 ORDER BY 1::text, 2', gdpr._personal_name_pattern());
    END IF;
    FOR rec IN EXECUTE sql LOOP
        status := 'warn';
        detail := format('%s.%I looks personal%s (%s) but has no gdpr tag. Fix: SELECT gdpr.tag_column(%L, %L, ''{<purpose>}'', %L); or, if it is not personal data, leave it untagged and ignore this line.',
                         rec.relation, rec.column_name,
                         coalesce(' (' || rec.category || ')', ''), rec.evidence,
                         rec.relation::text, rec.column_name, coalesce(rec.category, '<category>'));
        RETURN NEXT;
        found_ := true;
    END LOOP;
    IF NOT found_ THEN
        status := 'ok'; detail := 'no personal-looking column without a tag';
        RETURN NEXT;
    END IF;

    ---------------------------------------------------------------- 2
    check_name := 'direct_table_access';
    found_ := false;
    FOR rec IN
        WITH tagged AS (
            SELECT t.relation, array_agg(t.column_name ORDER BY t.column_name) AS cols,
                   bool_or(EXISTS (SELECT 1 FROM gdpr.purposes p
                                    WHERE p.name = ANY (t.purposes) AND p.legal_basis = 'consent')) AS consent_data
              FROM gdpr.column_tags t GROUP BY t.relation
        ), targets AS (
            -- a partition read directly bypasses the views just the same
            SELECT t.relation, t.cols, t.consent_data FROM tagged t
            UNION ALL
            SELECT p.relid::regclass, t.cols, t.consent_data
              FROM tagged t CROSS JOIN LATERAL pg_partition_tree(t.relation) p
             WHERE p.relid <> t.relation::oid
        ), grantees AS (
            SELECT r.oid, r.rolname FROM pg_roles r
             WHERE NOT r.rolsuper AND r.rolname !~ '^pg_'
            UNION ALL SELECT 0, 'PUBLIC'
        )
        SELECT g.rolname, t.relation, t.consent_data,
               ARRAY(SELECT c FROM unnest(t.cols) c
                      WHERE has_column_privilege(CASE WHEN g.oid = 0 THEN 'public' ELSE g.rolname END,
                                                 t.relation, c, 'SELECT')) AS readable
          FROM targets t
          JOIN pg_class cl ON cl.oid = t.relation
         CROSS JOIN grantees g
         WHERE (g.oid = 0 OR NOT pg_has_role(g.oid, cl.relowner, 'USAGE'))
         ORDER BY t.relation::text, g.rolname
    LOOP
        CONTINUE WHEN cardinality(rec.readable) = 0;
        status := CASE WHEN rec.consent_data THEN 'fail' ELSE 'warn' END;
        detail := format('role %s can read the tagged columns %s of %s directly, bypassing the consent-checked purpose views. Fix: REVOKE SELECT ON %s FROM %s;%s',
                         rec.rolname, array_to_string(rec.readable, ', '), rec.relation,
                         rec.relation, CASE WHEN rec.rolname = 'PUBLIC' THEN 'PUBLIC' ELSE quote_ident(rec.rolname) END,
                         CASE WHEN rec.rolname = 'PUBLIC' THEN ''
                              ELSE format(' and grant the purpose instead: SELECT gdpr.grant_purpose(%L, ''<purpose>'');',
                                          rec.rolname) END);
        RETURN NEXT;
        found_ := true;
    END LOOP;
    IF NOT found_ THEN
        status := 'ok'; detail := 'no role but owners and superusers reads tagged tables directly';
        RETURN NEXT;
    END IF;

    ---------------------------------------------------------------- 3
    check_name := 'consent_purpose_views';
    found_ := false;
    FOR rec IN EXECUTE
        'SELECT p.name, array_agg(DISTINCT t.relation::text) AS rels
           FROM gdpr.purposes p
           JOIN gdpr.column_tags t ON p.name = ANY (t.purposes)
          WHERE p.legal_basis = ''consent'''
        || CASE WHEN to_regclass('gdpr.purpose_views') IS NOT NULL
                THEN ' AND NOT EXISTS (SELECT 1 FROM gdpr.purpose_views v WHERE v.purpose = p.name)'
                ELSE '' END
        || ' GROUP BY p.name ORDER BY p.name'
    LOOP
        status := 'warn';
        detail := format('consent purpose %s has tagged data (%s) but no purpose view, so nothing checks consent before it is read. Fix: SELECT gdpr.create_purpose_view(%L, %L);',
                         rec.name, array_to_string(rec.rels, ', '), rec.rels[1], rec.name);
        RETURN NEXT;
        found_ := true;
    END LOOP;
    IF NOT found_ THEN
        status := 'ok'; detail := 'every consent purpose with data has a purpose view';
        RETURN NEXT;
    END IF;

    ---------------------------------------------------------------- 4
    check_name := 'processor_agreements';
    found_ := false;
    FOR rec IN SELECT * FROM gdpr.processors pr WHERE NOT pr.agreement_valid ORDER BY pr.name LOOP
        status := CASE WHEN cardinality(rec.purposes) > 0 THEN 'fail' ELSE 'warn' END;
        detail := format('processor %s (%s) has no valid data processing agreement (%s)%s. Fix: renew it and record it: SELECT gdpr.register_processor(%L, %L, <signed>, <expires>, %L); or stop using the processor.',
                         rec.name, rec.country,
                         CASE WHEN rec.agreement_signed > current_date
                              THEN 'signed only from ' || rec.agreement_signed
                              ELSE 'expired ' || rec.agreement_expires END,
                         CASE WHEN cardinality(rec.purposes) > 0
                              THEN ' but serves ' || array_to_string(rec.purposes, ', ') ELSE '' END,
                         rec.name, rec.country, rec.purposes::text);
        RETURN NEXT;
        found_ := true;
    END LOOP;
    FOR rec IN
        SELECT pr.name, u.p FROM gdpr.processor pr CROSS JOIN LATERAL unnest(pr.purposes) u(p)
         WHERE NOT EXISTS (SELECT 1 FROM gdpr.purposes gp WHERE gp.name = u.p) ORDER BY 1, 2
    LOOP
        status := 'warn';
        detail := format('processor %s names purpose %s, which no longer exists. Fix: register the processor again with its current purposes.',
                         rec.name, rec.p);
        RETURN NEXT;
        found_ := true;
    END LOOP;
    IF NOT found_ THEN
        status := 'ok';
        detail := format('%s processor(s), every agreement valid', (SELECT count(*) FROM gdpr.processor));
        RETURN NEXT;
    END IF;

    ---------------------------------------------------------------- 5
    check_name := 'third_country_transfers';
    found_ := false;
    FOR rec IN SELECT * FROM gdpr.processors pr WHERE pr.third_country ORDER BY pr.name LOOP
        IF rec.transfer_safeguard IS NULL THEN
            status := 'warn';
            detail := format('processor %s is in %s, outside the EEA (a transfer under Chapter V) and no safeguard is recorded. Fix: rely on an adequacy decision or standard contractual clauses and record it: SELECT gdpr.register_processor(%L, %L, %L, %L, %L, %L, transfer_safeguard => ''<adequacy decision | SCC 2021/914 | BCR>'');',
                             rec.name, rec.country, rec.name, rec.country, rec.agreement_signed,
                             rec.agreement_expires, rec.purposes::text, rec.contact);
        ELSE
            status := 'ok';
            detail := format('processor %s is in %s, outside the EEA; safeguard: %s', rec.name, rec.country,
                             rec.transfer_safeguard);
        END IF;
        RETURN NEXT;
        found_ := true;
    END LOOP;
    IF NOT found_ THEN
        status := 'ok'; detail := 'no processor outside the EEA';
        RETURN NEXT;
    END IF;

    ---------------------------------------------------------------- 6
    check_name := 'transport_encryption';
    FOR rec IN SELECT * FROM gdpr._transport_findings(current_setting('listen_addresses'), current_setting('ssl'))
    LOOP
        status := rec.status; detail := rec.detail;
        RETURN NEXT;
    END LOOP;

    ---------------------------------------------------------------- 7
    check_name := 'audit_chain';
    BEGIN
        SELECT v.ok, v.checked, v.first_bad_id INTO rec FROM gdpr.verify_audit() v;
        IF rec.ok THEN
            status := 'ok'; detail := format('audit chain intact (%s entries checked)', rec.checked);
        ELSE
            status := 'fail';
            detail := format('the audit chain is broken at entry %s: the log was changed outside the extension. Fix: investigate (who had superuser access, restore the log from a backup); the entries from %s on cannot be trusted.',
                             rec.first_bad_id, rec.first_bad_id);
        END IF;
    EXCEPTION WHEN undefined_function OR undefined_table THEN
        status := 'warn'; detail := 'gdpr.verify_audit() is not available: the audit log cannot be checked';
    END;
    RETURN NEXT;

    ---------------------------------------------------------------- 8
    check_name := 'overdue_requests';
    found_ := false;
    FOR rec IN SELECT * FROM gdpr.requests q WHERE q.overdue ORDER BY q.due_at LOOP
        status := 'fail';
        detail := format('%s request %s (subject %s, received %s) was due %s and is still open. Fix: handle it (gdpr.export_subject / gdpr.erase / ...) and SELECT gdpr.complete_request(%s, ''<what was done>'');',
                         rec.kind, rec.id, rec.subject, rec.received_at::date, rec.due_at::date, rec.id);
        RETURN NEXT;
        found_ := true;
    END LOOP;
    IF NOT found_ THEN
        status := 'ok';
        detail := format('no overdue request (%s open)', (SELECT count(*) FROM gdpr.request q WHERE q.completed_at IS NULL));
        RETURN NEXT;
    END IF;

    ---------------------------------------------------------------- 9
    check_name := 'overdue_breaches';
    found_ := false;
    FOR rec IN SELECT * FROM gdpr.breaches b WHERE b.overdue ORDER BY b.discovered_at LOOP
        status := 'fail';
        detail := format('breach %s (%s, discovered %s, estimated affected subjects: %s) was not notified within 72 hours (by %s). Fix: notify the Autoriteit Persoonsgegevens now, with the reasons for the delay (Art. 33(1)), then SELECT gdpr.notify_breach(%s);',
                         rec.id, rec.description, rec.discovered_at, coalesce(rec.affected_subjects, 0),
                         rec.notify_by, rec.id);
        RETURN NEXT;
        found_ := true;
    END LOOP;
    IF NOT found_ THEN
        status := 'ok'; detail := 'no breach awaiting notification past its 72 hours';
        RETURN NEXT;
    END IF;

    ---------------------------------------------------------------- 10
    check_name := 'retention_backlog';
    IF to_regprocedure('gdpr.expire(boolean)') IS NULL THEN
        status := 'warn'; detail := 'gdpr.expire() is not available: retention cannot be checked';
        RETURN NEXT;
    ELSE
        found_ := false;
        BEGIN
            FOR rec IN EXECUTE
                'SELECT e.relation, e.action, e.rows FROM gdpr.expire(true) e
                  WHERE e.action <> ''kept'' AND e.rows > 0 ORDER BY e.relation::text, e.action'
            LOOP
                status := 'warn';
                detail := format('%s rows of %s are past their retention and not yet %s. Fix: SELECT * FROM gdpr.expire(); and check that the retention worker runs (gdpr.retention_enabled, gdpr.database).',
                                 rec.rows, rec.relation, rec.action);
                RETURN NEXT;
                found_ := true;
            END LOOP;
        EXCEPTION WHEN OTHERS THEN
            status := 'warn';
            detail := 'gdpr.expire(dry_run => true) failed: ' || SQLERRM;
            RETURN NEXT;
            found_ := true;
        END;
        IF NOT found_ THEN
            status := 'ok'; detail := 'no row is past its retention';
            RETURN NEXT;
        END IF;
    END IF;

    ---------------------------------------------------------------- 11
    check_name := 'special_categories';
    found_ := false;
    FOR rec IN
        SELECT t.relation, t.column_name, t.category, p.name, p.legal_basis
          FROM gdpr.column_tags t
          JOIN gdpr.purposes p ON p.name = ANY (t.purposes)
         WHERE t.category LIKE 'special.%' AND p.legal_basis <> 'consent'
         ORDER BY t.relation::text, t.column_name, p.name
    LOOP
        status := 'warn';
        detail := format('%s.%I holds special-category data (%s, Art. 9) for purpose %s under %s, not explicit consent. Fix: record which Art. 9(2) ground applies in the purpose description (gdpr.define_purpose), or hold the column for a consent purpose.',
                         rec.relation, rec.column_name, rec.category, rec.name, rec.legal_basis);
        RETURN NEXT;
        found_ := true;
    END LOOP;
    IF NOT found_ THEN
        status := 'ok'; detail := 'no special-category column outside consent';
        RETURN NEXT;
    END IF;
END;
$$;
REVOKE ALL ON FUNCTION gdpr.compliance_report() FROM PUBLIC;
