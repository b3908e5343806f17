-- Requests on real subjects: due dates, the Art. 12(3) extension, completion,
-- erasure requests completed by the erase hook, the audit trail.
CREATE DATABASE gdpr_requests;
\c gdpr_requests
SET client_min_messages = warning;
CREATE EXTENSION gdpr_crm CASCADE;
RESET client_min_messages;
SET timezone = 'Europe/Amsterdam';
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE SCHEMA crm;
CREATE TABLE crm.person (id int PRIMARY KEY, name text);
CREATE TABLE crm.account (code text PRIMARY KEY, owner text);
CREATE TABLE crm.note (id int PRIMARY KEY, body text);
SECURITY LABEL FOR gdpr ON TABLE crm.person IS 'SUBJECT KEY (id)';
SECURITY LABEL FOR gdpr ON TABLE crm.account IS 'SUBJECT KEY (code)';

-- due one month after receipt (calendar months: Jan 31 -> Feb 28)
SELECT gdpr.request('crm.person', 7, 'access', '2026-01-31 10:00+01');
SELECT gdpr.request('crm.person', '7', 'erasure', '2026-03-15 12:00+01');
SELECT gdpr.request('crm.person', 7::bigint, 'portability', '2026-02-28 23:30+01');
SELECT gdpr.request('crm.account', 'ACC-1', 'objection', '2026-04-01 00:00+02');
SELECT id, subject, kind, received_at, due_at, completed_at, overdue, extended
  FROM gdpr.requests ORDER BY id;
-- the key is coerced to the key column's type: '7', 7, '007' and 7::bigint are one subject
SELECT count(DISTINCT subject_ref) AS refs FROM gdpr.requests WHERE subject = 'crm.person'::regclass;
SELECT subject_ref = gdpr.subject_ref('crm.person', 7) AS ref_is_subject_ref,
       subject_ref = gdpr.subject_ref('crm.person', '007'::text) AS leading_zeros_too
  FROM gdpr.requests WHERE id = 1;
-- keys that do not fit, relations that hold no subjects
SELECT pg_temp.err($$SELECT gdpr.request('crm.person', 'seven', 'access')$$);
SELECT pg_temp.err($$SELECT gdpr.request('crm.note', 1, 'access')$$);

-- the extension: two further months, once, with a reason, within the first month
SELECT pg_temp.err($$SELECT gdpr.extend_request(1, 'many requests')$$);
SELECT gdpr.request('crm.person', 8, 'access', now() - interval '10 days') AS recent \gset
SELECT gdpr.extend_request(:recent, 'complex request: data in three archives')
       = (SELECT received_at + interval '3 months' FROM gdpr.request WHERE id = :recent) AS three_months;
SELECT due_at = received_at + interval '3 months' AS due_moved, extended, extension_reason, overdue
  FROM gdpr.requests WHERE id = :recent;
SELECT pg_temp.err(format('SELECT gdpr.extend_request(%s, %L)', :recent, 'again'));
-- completion
SELECT gdpr.complete_request(:recent, 'export sent by registered mail');
SELECT completed_at IS NOT NULL AS completed, overdue, completed_late, note FROM gdpr.requests WHERE id = :recent;
SELECT pg_temp.err(format('SELECT gdpr.complete_request(%s)', :recent));
SELECT pg_temp.err(format('SELECT gdpr.extend_request(%s, %L)', :recent, 'too late'));
-- the old ones are overdue until completed; completing late is recorded
SELECT gdpr.complete_request(1);
SELECT id, overdue, completed_late FROM gdpr.requests WHERE id IN (1, 3) ORDER BY id;

-- the erase hook completes the subject's open erasure requests only
SELECT gdpr.request('crm.person', 7, 'erasure', now() - interval '1 day');
SELECT gdpr._complete_erasure_requests(gdpr.subject_ref('crm.person', 7));
SELECT id, kind, completed_at IS NOT NULL AS completed, note FROM gdpr.requests
 WHERE subject_ref = gdpr.subject_ref('crm.person', 7) ORDER BY id;
SELECT gdpr._complete_erasure_requests(gdpr.subject_ref('crm.person', 7)) AS again;
-- gdpr.erase() completes the erasure requests of the subject it erased
INSERT INTO crm.person VALUES (9, 'Negen');
SELECT gdpr.request('crm.person', 9, 'erasure', now() - interval '3 days') AS erasure9 \gset
SELECT gdpr.request('crm.person', 9, 'access', now() - interval '3 days') AS access9 \gset
SELECT relation, action, rows FROM gdpr.erase('crm.person', 9, 'request of the subject');
SELECT kind, completed_at IS NOT NULL AS completed, note FROM gdpr.requests
 WHERE id IN (:erasure9, :access9) ORDER BY id;

-- the audit trail names the subject by its ref, never by its key
SELECT action, details->>'kind' AS kind, relation, subject_ref IS NOT NULL AS has_ref,
       subject_ref <> '7' AND subject_ref <> '8' AND subject_ref <> 'ACC-1' AS ref_is_no_key
  FROM gdpr.audit_log WHERE action LIKE 'request.%' ORDER BY id;

\c contrib_regression
DROP DATABASE gdpr_requests;
