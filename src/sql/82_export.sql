-- gdpr_crm 1.0 — subject access and portability (API section 8, Art. 15, 20).
-- The format is documented in docs/export-format.md.

-- The rights of Art. 13(2), 15(1)(e)-(f) and where to complain.
CREATE FUNCTION gdpr._rights() RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    RETURN jsonb_build_object(
        'access', 'Art. 15: a copy of your personal data and this information',
        'rectification', 'Art. 16: have inaccurate data corrected',
        'erasure', 'Art. 17: have your data erased',
        'restriction', 'Art. 18: have processing restricted',
        'portability', 'Art. 20: receive your data in a machine-readable format (this document) and have it transmitted to another controller',
        'objection', 'Art. 21: object to processing based on legitimate interests or for direct marketing',
        'withdraw_consent', 'Art. 7(3): withdraw consent at any time, without affecting earlier processing',
        'automated_decisions', 'Art. 22: not to be subject to a decision based solely on automated processing',
        'complaint', jsonb_build_object(
            'authority', 'Autoriteit Persoonsgegevens',
            'country', 'NL',
            'website', 'https://autoriteitpersoonsgegevens.nl',
            'contact', 'Postbus 93374, 2509 AJ Den Haag, Nederland; telefoon 088 - 1805 250',
            'basis', 'Art. 77: lodge a complaint with a supervisory authority')
    );

CREATE FUNCTION gdpr._export_subject(subject regclass, subject_key text)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET IntervalStyle = postgres
AS $$
DECLARE
    keytext   text;
    ref       text;
    rec       record;
    rows_     jsonb;
    data      jsonb := '{}';
    cols      jsonb := '{}';
    order_by  text;
    nrows     bigint := 0;
    rels      regclass[] := '{}';
    purps     text[];
    result    jsonb;
    consents  jsonb;
BEGIN
    IF subject IS NULL THEN
        RAISE EXCEPTION 'subject must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF subject_key IS NULL THEN
        RAISE EXCEPTION 'subject_key must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    keytext := gdpr._subject_key_text(subject, subject_key);
    ref := gdpr.subject_ref(subject, keytext);

    -- the subject's rows (the reach of gdpr.erase), relation by relation;
    -- partition rows are fetched from their partition and listed under the
    -- partitioned parent, all in primary key order
    FOR rec IN
        SELECT x.relation,
               string_agg(format('SELECT to_jsonb(t) AS r FROM %s t WHERE t.ctid = ANY (%L::pg_catalog.tid[])',
                                 x.part, x.ctids::text), ' UNION ALL ') AS sql
          FROM (SELECT r.relation, coalesce(r.part, r.relation) AS part,
                       array_agg(DISTINCT r.row_ctid) AS ctids
                  FROM gdpr._subject_reach(subject, keytext) r
                 GROUP BY 1, 2) x
         GROUP BY x.relation ORDER BY x.relation::text
    LOOP
        SELECT string_agg(format('s.r -> %L', a.attname), ', ' ORDER BY k.i) INTO order_by
          FROM pg_index ix
         CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY k(attnum, i)
          JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
         WHERE ix.indrelid = rec.relation AND ix.indisprimary;
        EXECUTE format('SELECT coalesce(jsonb_agg(s.r ORDER BY %s), ''[]'') FROM (%s) s',
                       coalesce(order_by, 's.r::text'), rec.sql)
            INTO rows_;
        CONTINUE WHEN jsonb_array_length(rows_) = 0;
        data := data || jsonb_build_object(rec.relation::text, rows_);
        nrows := nrows + jsonb_array_length(rows_);
        rels := rels || rec.relation;
    END LOOP;

    -- what each column is held for
    SELECT coalesce(jsonb_object_agg(c.rel, c.cols), '{}') INTO cols
      FROM (SELECT t.relation::text AS rel,
                   jsonb_object_agg(t.column_name, jsonb_build_object('purposes', to_jsonb(t.purposes),
                                                                     'category', t.category)) AS cols
              FROM gdpr.column_tags t WHERE t.relation = ANY (rels) GROUP BY t.relation) c;

    -- the consent history (Art. 7(1): the controller can demonstrate consent)
    IF to_regclass('gdpr.consent_events') IS NOT NULL THEN
        EXECUTE 'SELECT coalesce(jsonb_agg(jsonb_build_object(
                        ''at'', ce.at, ''purpose'', ce.purpose, ''action'', ce.action,
                        ''method'', ce.method, ''source'', ce.source,
                        ''evidence'', ce.evidence, ''policy_version'', ce.policy_version)
                        ORDER BY ce.at, ce.id), ''[]'')
                   FROM gdpr.consent_events ce
                  WHERE ce.subject = $1 AND ce.subject_key = $2'
            INTO consents USING subject, keytext;
    END IF;
    consents := coalesce(consents, '[]');

    -- purposes: of the columns holding the subject's data, and of their consents
    SELECT array_agg(DISTINCT p ORDER BY p) INTO purps
      FROM (SELECT unnest(t.purposes) AS p FROM gdpr.column_tags t WHERE t.relation = ANY (rels)
            UNION
            SELECT c->>'purpose' FROM jsonb_array_elements(consents) c) x;
    purps := coalesce(purps, '{}');

    result := jsonb_build_object(
        'format', 'gdpr_crm subject export 1',
        'subject_ref', ref,
        'subject', subject::text,
        'generated_at', now(),
        'controller', current_database(),
        'data', data,
        'columns', cols,
        'purposes', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                  'name', p.name, 'legal_basis', p.legal_basis,
                                  'retention', p.retention::text, 'description', p.description)
                                  ORDER BY p.name)
                                FROM gdpr.purposes p WHERE p.name = ANY (purps)), '[]'),
        'categories', coalesce((SELECT jsonb_agg(DISTINCT t.category)
                                  FROM gdpr.column_tags t
                                 WHERE t.relation = ANY (rels) AND t.category IS NOT NULL), '[]'),
        'consents', consents,
        'recipients', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                    'name', pr.name, 'country', pr.country,
                                    'third_country', NOT gdpr.in_eea(pr.country),
                                    'safeguard', pr.transfer_safeguard,
                                    'purposes', to_jsonb(ARRAY(SELECT unnest(pr.purposes) INTERSECT
                                                               SELECT unnest(purps) ORDER BY 1)))
                                    ORDER BY pr.name)
                                  FROM gdpr.processor pr WHERE pr.purposes && purps), '[]'),
        'retention', coalesce((SELECT jsonb_object_agg(x.rel, x.ret)
                                 FROM (SELECT t.relation::text AS rel,
                                              CASE WHEN bool_or(p.retention IS NULL) THEN NULL
                                                   ELSE max(p.retention)::text END AS ret
                                         FROM gdpr.column_tags t
                                        CROSS JOIN LATERAL unnest(t.purposes) u(purpose)
                                         JOIN gdpr.purposes p ON p.name = u.purpose
                                        WHERE t.relation = ANY (rels)
                                        GROUP BY t.relation) x), '{}'),
        'source', jsonb_build_object(
            'collected_from', 'the data subject, unless a consent event names another source',
            'consent_sources', coalesce((SELECT jsonb_agg(DISTINCT c->'source')
                                           FROM jsonb_array_elements(consents) c
                                          WHERE jsonb_typeof(c->'source') = 'string'), '[]')),
        'rights', gdpr._rights()
    );

    PERFORM gdpr._audit('export', ref, subject,
                        jsonb_build_object('relations', cardinality(rels), 'rows', nrows));
    RETURN result;
END;
$$;
REVOKE ALL ON FUNCTION gdpr._export_subject(regclass, text) FROM PUBLIC;

CREATE FUNCTION gdpr.export_subject(subject regclass, subject_key anyelement)
    RETURNS jsonb
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT gdpr._export_subject(subject, subject_key::text) $$;
REVOKE ALL ON FUNCTION gdpr.export_subject(regclass, anyelement) FROM PUBLIC;

CREATE FUNCTION gdpr.export_subject(subject regclass, subject_key text)
    RETURNS jsonb
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN gdpr._export_subject(subject, subject_key);
REVOKE ALL ON FUNCTION gdpr.export_subject(regclass, text) FROM PUBLIC;
