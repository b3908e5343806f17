-- The requests register (API section 5): argument checks and the view.
-- (Requests on real subjects: sql/requests_subjects.sql.)
-- err(): the SQLSTATE and message of a statement that must fail.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- NULL arguments without a default, an unknown kind, a future receipt
SELECT pg_temp.err($$SELECT gdpr.request(NULL, 1, 'access')$$);
SELECT pg_temp.err($$SELECT gdpr.request('pg_class', NULL::int, 'access')$$);
SELECT pg_temp.err($$SELECT gdpr.request('pg_class', NULL, 'access')$$);
SELECT pg_temp.err($$SELECT gdpr.request('pg_class', 1, NULL)$$);
SELECT pg_temp.err($$SELECT gdpr.request('pg_class', 1, 'access', NULL)$$);
SELECT pg_temp.err($$SELECT gdpr.request('pg_class', 1, 'forget-me')$$);
SELECT pg_temp.err($$SELECT gdpr.request('pg_class', 1, 'access', now() + interval '1 week')$$);
-- unknown ids, NULL ids, an extension without a reason
SELECT pg_temp.err($$SELECT gdpr.complete_request(-1)$$);
SELECT pg_temp.err($$SELECT gdpr.complete_request(NULL)$$);
SELECT pg_temp.err($$SELECT gdpr.extend_request(-1, 'complex')$$);
SELECT pg_temp.err($$SELECT gdpr.extend_request(NULL, 'complex')$$);
SELECT pg_temp.err($$SELECT gdpr.extend_request(-1, NULL)$$);
SELECT pg_temp.err($$SELECT gdpr.extend_request(-1, '   ')$$);
SELECT gdpr._complete_erasure_requests(NULL);
SELECT gdpr._complete_erasure_requests('no-such-ref');
-- nothing was written
SELECT count(*) FROM gdpr.request;
-- the view's columns
SELECT attname, format_type(atttypid, atttypmod)
  FROM pg_attribute WHERE attrelid = 'gdpr.requests'::regclass AND attnum > 0 ORDER BY attnum;
-- not for PUBLIC
SELECT has_table_privilege('public', 'gdpr.requests', 'SELECT') AS public_reads_requests,
       has_table_privilege('public', 'gdpr.request', 'SELECT') AS public_reads_table,
       has_function_privilege('public', 'gdpr.request(regclass, anyelement, text, timestamptz)', 'EXECUTE') AS public_requests,
       has_function_privilege('public', 'gdpr.request(regclass, text, text, timestamptz)', 'EXECUTE') AS public_requests_text,
       has_function_privilege('public', 'gdpr.complete_request(bigint, text)', 'EXECUTE') AS public_completes,
       has_function_privilege('public', 'gdpr.extend_request(bigint, text)', 'EXECUTE') AS public_extends,
       has_function_privilege('public', 'gdpr._complete_erasure_requests(text)', 'EXECUTE') AS public_erasure_hook;
