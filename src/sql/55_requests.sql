-- gdpr_crm 1.0 — the register of data subject requests (API section 5, Art. 12).
--
-- A request is due one month after receipt (Art. 12(3)); the controller may
-- extend that once by two further months, with a reason, as long as the
-- original month has not passed (the data subject must be told within it).
-- The register holds no personal key: a request names its subject by
-- subject_ref (the keyed hash of gdpr.subject_ref), which is also how an
-- erasure completes the subject's open erasure requests.

CREATE TABLE gdpr.request (
    id               bigserial PRIMARY KEY,
    subject          regclass NOT NULL,
    subject_ref      text NOT NULL,
    kind             text NOT NULL
        CONSTRAINT request_kind_check CHECK (kind IN ('access', 'rectification', 'erasure',
                                                     'restriction', 'portability', 'objection')),
    received_at      timestamptz NOT NULL,
    due_at           timestamptz NOT NULL,
    extended_at      timestamptz,
    extension_reason text,
    completed_at     timestamptz,
    note             text,
    opened_by        name NOT NULL DEFAULT current_user,
    completed_by     name,
    CONSTRAINT request_extension_check
        CHECK ((extended_at IS NULL) = (extension_reason IS NULL)),
    CONSTRAINT request_completed_check
        CHECK ((completed_at IS NULL) = (completed_by IS NULL))
);
CREATE INDEX request_open_idx ON gdpr.request (subject_ref) WHERE completed_at IS NULL;
REVOKE ALL ON TABLE gdpr.request FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('gdpr.request', '');
SELECT pg_catalog.pg_extension_config_dump('gdpr.request_id_seq', '');

COMMENT ON TABLE gdpr.request IS
    'Data subject requests (Art. 12, 15-22): due one month after receipt, extendable once by two months with a reason.';

-- The kinds of request a data subject can make (Art. 15-21).
CREATE FUNCTION gdpr._request_kinds() RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ARRAY['access', 'rectification', 'erasure', 'restriction', 'portability', 'objection'];

-- The key of a subject as the text form of the subject table's key column
-- type ('042' and 42 name the same customer when the key is an integer).
-- Raises when rel is no subject table or the key does not fit.
CREATE FUNCTION gdpr._subject_key_text(subject regclass, key_text text)
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keycol  name;
    keytype text;
    result  text;
BEGIN
    SELECT st.key_column INTO keycol
      FROM gdpr.subject_tables st
     WHERE st.relation = subject;
    IF keycol IS NULL THEN
        RAISE EXCEPTION 'relation % is not a subject table', subject
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Register it first: SECURITY LABEL FOR gdpr ON TABLE ... IS ''SUBJECT KEY (col)'' or gdpr.register_subject_table(rel, key_column).';
    END IF;
    SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) INTO keytype
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = subject AND a.attname = keycol AND NOT a.attisdropped;
    BEGIN
        EXECUTE pg_catalog.format('SELECT (%L::%s)::text', key_text, keytype) INTO result;
    EXCEPTION WHEN data_exception THEN
        RAISE EXCEPTION 'subject key % does not fit the key column %.% (%)',
                        pg_catalog.quote_literal(key_text), subject, pg_catalog.quote_ident(keycol), keytype
            USING ERRCODE = 'invalid_text_representation',
                  DETAIL = SQLERRM,
                  HINT = pg_catalog.format('Pass a value of type %s.', keytype);
    END;
    RETURN result;
END;
$$;
REVOKE ALL ON FUNCTION gdpr._subject_key_text(regclass, text) FROM PUBLIC;

CREATE FUNCTION gdpr._request(subject regclass, subject_key text, kind text,
                              received_at timestamptz)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ref   text;
    new_id bigint;
    due   timestamptz;
BEGIN
    IF subject IS NULL THEN
        RAISE EXCEPTION 'subject must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF subject_key IS NULL THEN
        RAISE EXCEPTION 'subject_key must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF kind IS NULL THEN
        RAISE EXCEPTION 'kind must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF received_at IS NULL THEN
        RAISE EXCEPTION 'received_at must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Leave it out to use now().';
    END IF;
    IF NOT kind = ANY (gdpr._request_kinds()) THEN
        RAISE EXCEPTION 'unknown request kind "%"', kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Allowed: ' || pg_catalog.array_to_string(gdpr._request_kinds(), ', ') || '.';
    END IF;
    IF received_at > pg_catalog.now() + interval '1 day' THEN
        RAISE EXCEPTION 'received_at lies in the future'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give the moment the request was received.';
    END IF;

    ref := gdpr.subject_ref(subject, gdpr._subject_key_text(subject, subject_key));
    due := received_at + interval '1 month';

    INSERT INTO gdpr.request (subject, subject_ref, kind, received_at, due_at, opened_by)
    VALUES (subject, ref, kind, received_at, due, session_user)
    RETURNING id INTO new_id;

    PERFORM gdpr._audit('request.open', ref, subject,
                        pg_catalog.jsonb_build_object('request', new_id, 'kind', kind,
                                                      'received_at', received_at, 'due_at', due));
    RETURN new_id;
END;
$$;
REVOKE ALL ON FUNCTION gdpr._request(regclass, text, text, timestamptz) FROM PUBLIC;

-- A key of any type (42, 42::bigint); the text overload takes '42' and
-- untyped literals, which a polymorphic argument cannot.
CREATE FUNCTION gdpr.request(subject regclass, subject_key anyelement, kind text,
                             received_at timestamptz DEFAULT now())
    RETURNS bigint
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT gdpr._request(subject, subject_key::text, kind, received_at) $$;
REVOKE ALL ON FUNCTION gdpr.request(regclass, anyelement, text, timestamptz) FROM PUBLIC;

CREATE FUNCTION gdpr.request(subject regclass, subject_key text, kind text,
                             received_at timestamptz DEFAULT now())
    RETURNS bigint
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN gdpr._request(subject, subject_key, kind, received_at);
REVOKE ALL ON FUNCTION gdpr.request(regclass, text, text, timestamptz) FROM PUBLIC;

-- The open request with this id, locked; raises when unknown or completed.
CREATE FUNCTION gdpr._open_request(request_id bigint)
    RETURNS gdpr.request
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r gdpr.request;
BEGIN
    IF request_id IS NULL THEN
        RAISE EXCEPTION 'id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO r FROM gdpr.request WHERE id = request_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no request with id %', request_id
            USING ERRCODE = 'undefined_object',
                  HINT = 'See SELECT * FROM gdpr.requests.';
    END IF;
    IF r.completed_at IS NOT NULL THEN
        RAISE EXCEPTION 'request % was already completed', request_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('It was completed at %s.', r.completed_at);
    END IF;
    RETURN r;
END;
$$;
REVOKE ALL ON FUNCTION gdpr._open_request(bigint) FROM PUBLIC;

CREATE FUNCTION gdpr.complete_request(id bigint, note text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r gdpr.request;
BEGIN
    r := gdpr._open_request(id);
    UPDATE gdpr.request q
       SET completed_at = pg_catalog.now(), completed_by = session_user, note = complete_request.note
     WHERE q.id = r.id;
    PERFORM gdpr._audit('request.complete', r.subject_ref, r.subject,
                        pg_catalog.jsonb_build_object('request', r.id, 'kind', r.kind,
                                                      'late', pg_catalog.now() > r.due_at));
END;
$$;
REVOKE ALL ON FUNCTION gdpr.complete_request(bigint, text) FROM PUBLIC;

-- Art. 12(3): extend the period by two further months, once, with the reason
-- the data subject is told; only while the first month still runs.
CREATE FUNCTION gdpr.extend_request(id bigint, reason text)
    RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r   gdpr.request;
    due timestamptz;
BEGIN
    IF reason IS NULL THEN
        RAISE EXCEPTION 'reason must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Art. 12(3): the data subject must be told the reasons for the delay.';
    END IF;
    IF pg_catalog.btrim(reason) = '' THEN
        RAISE EXCEPTION 'an extension needs a reason'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Art. 12(3): the data subject must be told the reasons for the delay.';
    END IF;
    r := gdpr._open_request(id);
    IF r.extended_at IS NOT NULL THEN
        RAISE EXCEPTION 'request % was already extended', r.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('It was extended at %s until %s.', r.extended_at, r.due_at),
                  HINT = 'Art. 12(3) allows one extension by two further months.';
    END IF;
    IF pg_catalog.now() > r.received_at + interval '1 month' THEN
        RAISE EXCEPTION 'request % can no longer be extended: the first month ended at %',
                        r.id, r.received_at + interval '1 month'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Art. 12(3): the extension must be announced within one month of receipt.';
    END IF;
    due := r.received_at + interval '3 months';
    UPDATE gdpr.request q
       SET due_at = due, extended_at = pg_catalog.now(), extension_reason = reason
     WHERE q.id = r.id;
    PERFORM gdpr._audit('request.extend', r.subject_ref, r.subject,
                        pg_catalog.jsonb_build_object('request', r.id, 'kind', r.kind, 'due_at', due));
    RETURN due;
END;
$$;
REVOKE ALL ON FUNCTION gdpr.extend_request(bigint, text) FROM PUBLIC;

-- Called by gdpr.erase() after it erased a subject: completes the subject's
-- open erasure requests.  Returns how many it completed.
CREATE FUNCTION gdpr._complete_erasure_requests(subject_ref text)
    RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    IF subject_ref IS NULL THEN
        RETURN 0;
    END IF;
    FOR r IN
        UPDATE gdpr.request q
           SET completed_at = pg_catalog.now(), completed_by = session_user,
               note = COALESCE(q.note, 'completed by gdpr.erase()')
         WHERE q.subject_ref = _complete_erasure_requests.subject_ref
           AND q.kind = 'erasure' AND q.completed_at IS NULL
        RETURNING q.id, q.subject, q.subject_ref, q.due_at
    LOOP
        PERFORM gdpr._audit('request.complete', r.subject_ref, r.subject,
                            pg_catalog.jsonb_build_object('request', r.id, 'kind', 'erasure',
                                                          'late', pg_catalog.now() > r.due_at,
                                                          'by', 'erase'));
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;
REVOKE ALL ON FUNCTION gdpr._complete_erasure_requests(text) FROM PUBLIC;

CREATE VIEW gdpr.requests AS
SELECT q.id, q.subject, q.subject_ref, q.kind, q.received_at, q.due_at, q.completed_at,
       (q.completed_at IS NULL AND q.due_at < pg_catalog.now()) AS overdue,
       q.extended_at IS NOT NULL AS extended,
       q.extension_reason,
       q.completed_at > q.due_at AS completed_late,
       q.note
  FROM gdpr.request q;
REVOKE ALL ON TABLE gdpr.requests FROM PUBLIC;
COMMENT ON VIEW gdpr.requests IS
    'Data subject requests with their due dates (one month, or three after an Art. 12(3) extension); overdue = open past due_at.';
