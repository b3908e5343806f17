-- Retention expiry (API 6 and 11): the rules on fixed timestamps.
-- Rows are dated far in the past (2000) or future (2999), and purposes have
-- retentions of 1 year or 1000 years, so now() does not change the outcome.
-- Runs in a database of its own so audit ids and runs are known.
CREATE DATABASE retention_regress;
\c retention_regress
SET client_min_messages = warning;
CREATE EXTENSION gdpr_crm CASCADE;
SET datestyle = 'ISO, YMD';

SELECT gdpr.define_purpose('short', 'legitimate_interests', '1 year');
SELECT gdpr.define_purpose('long', 'consent', '1000 years');
SELECT gdpr.define_purpose('books', 'legal_obligation', '7 years');
SELECT gdpr.define_purpose('forever', 'contract', NULL);

CREATE SCHEMA shop;
-- customers: name NOT NULL (neutral ''), handle NOT NULL UNIQUE (unique
-- neutral value), a self reference (referred_by)
CREATE TABLE shop.customer (
    id int PRIMARY KEY,
    name text NOT NULL,
    handle text NOT NULL UNIQUE,
    email text,
    phone text,
    last_active timestamptz,
    referred_by int REFERENCES shop.customer);
SECURITY LABEL FOR gdpr ON TABLE shop.customer IS 'SUBJECT KEY (id) RETAIN FROM last_active';
SECURITY LABEL FOR gdpr ON COLUMN shop.customer.name IS 'PURPOSE short, long';
SECURITY LABEL FOR gdpr ON COLUMN shop.customer.handle IS 'PURPOSE short';
SECURITY LABEL FOR gdpr ON COLUMN shop.customer.email IS 'PURPOSE long';
SECURITY LABEL FOR gdpr ON COLUMN shop.customer.phone IS 'PURPOSE short';

-- orders with their own clock; order lines (untagged) follow their order;
-- line notes (tagged, no RETAIN FROM) take the clock of their order
CREATE TABLE shop.orders (
    id int PRIMARY KEY,
    customer_id int REFERENCES shop.customer,
    placed_at date NOT NULL,
    note text);
SECURITY LABEL FOR gdpr ON TABLE shop.orders IS 'RETAIN FROM placed_at';
SECURITY LABEL FOR gdpr ON COLUMN shop.orders.note IS 'PURPOSE short';
CREATE TABLE shop.order_line (
    order_id int REFERENCES shop.orders,
    n int,
    product text,
    PRIMARY KEY (order_id, n));
-- gift wrapping (untagged) goes with its order through ON DELETE CASCADE:
-- the schema's own doing, not listed
CREATE TABLE shop.gift_wrap (
    order_id int PRIMARY KEY REFERENCES shop.orders ON DELETE CASCADE,
    paper text);
CREATE TABLE shop.line_note (
    id int PRIMARY KEY,
    order_id int NOT NULL REFERENCES shop.orders,
    gift_message text);
SECURITY LABEL FOR gdpr ON COLUMN shop.line_note.gift_message IS 'PURPOSE short';

-- invoices: kept 7 years from their date (legal obligation)
CREATE TABLE shop.invoice (
    id int PRIMARY KEY,
    order_id int REFERENCES shop.orders,
    invoiced_on date NOT NULL,
    name_on_invoice text NOT NULL);
SECURITY LABEL FOR gdpr ON TABLE shop.invoice IS 'RETAIN FROM invoiced_on';
SECURITY LABEL FOR gdpr ON COLUMN shop.invoice.name_on_invoice IS 'PURPOSE books';

-- contracts: one column without retention keeps the row forever
CREATE TABLE shop.contract (
    id int PRIMARY KEY,
    signed_on date,
    signatory text,
    marketing_ok text);
SECURITY LABEL FOR gdpr ON TABLE shop.contract IS 'RETAIN FROM signed_on';
SECURITY LABEL FOR gdpr ON COLUMN shop.contract.signatory IS 'PURPOSE forever';
SECURITY LABEL FOR gdpr ON COLUMN shop.contract.marketing_ok IS 'PURPOSE short';

-- visits: partitioned; labels on the parent apply to the partitions
CREATE TABLE shop.visit (
    id int,
    customer_id int REFERENCES shop.customer,
    visited_at timestamptz NOT NULL,
    ip inet) PARTITION BY RANGE (visited_at);
CREATE TABLE shop.visit_old PARTITION OF shop.visit FOR VALUES FROM ('1900-01-01') TO ('2500-01-01');
CREATE TABLE shop.visit_new PARTITION OF shop.visit FOR VALUES FROM ('2500-01-01') TO ('3500-01-01');
SECURITY LABEL FOR gdpr ON TABLE shop.visit IS 'RETAIN FROM visited_at';
SECURITY LABEL FOR gdpr ON COLUMN shop.visit.ip IS 'PURPOSE short';

-- no retention clock anywhere: never expires by itself
CREATE TABLE shop.clockless (id int PRIMARY KEY, remark text);
SECURITY LABEL FOR gdpr ON COLUMN shop.clockless.remark IS 'PURPOSE short';

-- 0900: short and long (1000 years) have both run out; 2000: only short
INSERT INTO shop.customer VALUES
  (1, 'Ada',  'ada',  'ada@x',  '111', '0900-01-01', NULL),  -- ran out; order 10 keeps her
  (2, 'Bob',  'bob',  'bob@x',  '222', '2999-01-01', NULL),  -- active
  (3, 'Cor',  'cor',  'cor@x',  '333', '2000-01-01', NULL),  -- short ran out, long runs
  (4, 'Dirk', 'dirk', 'dirk@x', '444', '0900-01-01', 2),     -- ran out, nothing keeps him
  (5, 'Eva',  'eva',  'eva@x',  '555', '0900-01-01', NULL),  -- ran out; Fay refers to her
  (6, 'Fay',  'fay',  'fay@x',  '666', '2999-01-01', 5),     -- active
  (7, 'Gijs', 'gijs', 'gijs@x', NULL,  NULL,         NULL);  -- no clock value: never expires
INSERT INTO shop.orders VALUES
  (10, 1, '2000-01-01', 'leave at door'),   -- ran out; its invoice still runs
  (11, 1, '2000-02-01', 'ring twice'),      -- ran out, nothing keeps it: deleted with lines
  (12, 2, '2999-01-01', 'fragile'),         -- runs
  (13, 4, '2000-01-01', NULL);              -- ran out: deleted (Dirk then goes too)
INSERT INTO shop.order_line VALUES (10, 1, 'book'), (11, 1, 'pen'), (11, 2, 'ink'), (12, 1, 'vase'), (13, 1, 'cup');
INSERT INTO shop.gift_wrap VALUES (11, 'red'), (12, 'blue');
INSERT INTO shop.line_note VALUES (100, 11, 'happy birthday'), (101, 12, 'congrats');
INSERT INTO shop.invoice VALUES
  (1000, 10, '2999-01-01', 'A. Lovelace'),   -- runs: keeps order 10 (anonymized) and Ada
  (1001, 11, '2000-02-01', 'A. Lovelace');   -- ran out: deleted
INSERT INTO shop.contract VALUES (1, '2000-01-01', 'Ada Lovelace', 'yes'), (2, '2999-01-01', 'Bob', 'no');
INSERT INTO shop.visit VALUES (1, 1, '2000-01-01', '10.0.0.1'), (2, 2, '2999-01-01', '10.0.0.2'), (3, 6, '2000-06-01', '10.0.0.3');
INSERT INTO shop.clockless VALUES (1, 'old remark');

-- what would happen: a dry run
CREATE TEMP TABLE planned AS SELECT * FROM gdpr.expire(dry_run => true);
SELECT relation, action, rows FROM planned ORDER BY relation::text, action;
-- a dry run changes nothing and writes no audit entry
SELECT count(*) AS customers, (SELECT count(*) FROM shop.orders) AS orders,
       (SELECT count(*) FROM gdpr.audit_log WHERE action = 'expire') AS expire_audits
  FROM shop.customer;

-- the real run does exactly that
CREATE TEMP TABLE done AS SELECT * FROM gdpr.expire();
SELECT relation, action, rows FROM done ORDER BY relation::text, action;
SELECT count(*) AS differences FROM (
  (SELECT * FROM planned EXCEPT ALL SELECT * FROM done)
  UNION ALL
  (SELECT * FROM done EXCEPT ALL SELECT * FROM planned)) d;

-- Row level: Dirk (nothing refers to him) is gone; Ada (order 10 is kept
-- by its running invoice) and Eva (Fay refers to her) are anonymized:
-- name '' (NOT NULL), handle a unique neutral value, the rest NULL.
-- Column level: Cor's short-only columns (handle, phone) are cleared,
-- name and email (long runs) stay.  Gijs has no clock value: untouched.
SELECT id, name, handle LIKE 'erased-%' AS handle_neutral,
       CASE WHEN handle LIKE 'erased-%' THEN NULL ELSE handle END AS handle,
       email, phone, last_active::date, referred_by
  FROM shop.customer ORDER BY id;
-- the neutral handles are distinct (unique index)
SELECT count(DISTINCT handle) = count(*) AS handles_unique FROM shop.customer;
-- order 10 anonymized (note cleared), 11 and 13 deleted with their lines
-- and line notes; 12 untouched
SELECT * FROM shop.orders ORDER BY id;
SELECT * FROM shop.order_line ORDER BY order_id, n;
SELECT * FROM shop.line_note ORDER BY id;
SELECT * FROM shop.gift_wrap ORDER BY order_id;
SELECT * FROM shop.invoice ORDER BY id;
-- contract 1: the 'forever' column keeps the row; marketing_ok cleared
SELECT * FROM shop.contract ORDER BY id;
-- partitioned visits: reported under the parent, old rows gone
SELECT * FROM shop.visit ORDER BY id;
SELECT * FROM shop.clockless;

-- one audit entry per relation and batch (not per row), no subject_ref
SELECT action, relation, subject_ref IS NULL AS no_subject,
       details->>'deleted' AS deleted, details->>'anonymized' AS anonymized,
       details->>'nulled' AS nulled, details->>'dependent_rows_deleted' AS dependent
  FROM gdpr.audit_log WHERE action = 'expire' ORDER BY id;
SELECT ok, first_bad_id FROM gdpr.verify_audit();

-- the runs are logged
SELECT relation, action, rows, error, source FROM gdpr.retention_runs
 ORDER BY relation::text, action;

-- nothing left to do: a second pass (dry or real) finds nothing and
-- writes no audit entry
SELECT * FROM gdpr.expire(true);
SELECT * FROM gdpr.expire();
SELECT count(*) AS expire_audits FROM gdpr.audit_log WHERE action = 'expire';

-- Fay is gone now: Eva, anonymized because Fay referred to her, is
-- deleted on the next pass (her anonymized row no longer has a referrer)
DELETE FROM shop.visit WHERE customer_id = 6;
DELETE FROM shop.customer WHERE id = 6;
SELECT * FROM gdpr.expire();
SELECT id FROM shop.customer ORDER BY id;

-- a retention change applies at the next pass: long becomes 1 year, so
-- Cor's name and email run out as well (the row goes)
SELECT gdpr.define_purpose('long', 'consent', '1 year');
SELECT * FROM gdpr.expire(true);
SELECT * FROM gdpr.expire();
SELECT id FROM shop.customer ORDER BY id;

-- a table that fails is an error of gdpr.expire() (the worker logs it and
-- goes on): NOT NULL column of a type without neutral value
CREATE TABLE shop.odd (id int PRIMARY KEY, at date, pt point NOT NULL);
SECURITY LABEL FOR gdpr ON TABLE shop.odd IS 'RETAIN FROM at';
SECURITY LABEL FOR gdpr ON COLUMN shop.odd.pt IS 'PURPOSE short';
INSERT INTO shop.odd VALUES (1, '2000-01-01', '(1,2)');
SELECT * FROM gdpr.expire();
-- a constant DEFAULT is the cleared value (a volatile one is not used)
ALTER TABLE shop.odd ALTER COLUMN pt SET DEFAULT point(random(), 0);
SELECT * FROM gdpr.expire(true);
ALTER TABLE shop.odd ALTER COLUMN pt SET DEFAULT '(0,0)';
SELECT * FROM gdpr.expire();
SELECT id, pt FROM shop.odd;
SELECT * FROM gdpr.expire();
-- tagging such a column without a usable DEFAULT warns at once
CREATE TABLE shop.odd2 (id int PRIMARY KEY, pt point NOT NULL, pu point NOT NULL DEFAULT '(0,0)');
SECURITY LABEL FOR gdpr ON COLUMN shop.odd2.pt IS 'PURPOSE short';
SECURITY LABEL FOR gdpr ON COLUMN shop.odd2.pu IS 'PURPOSE short';
DROP TABLE shop.odd, shop.odd2;

-- the worker's way by hand: batches of 1 row, rows others hold skipped
INSERT INTO shop.visit VALUES (4, 2, '2000-01-01', '10.0.0.4'), (5, 2, '2000-01-02', '10.0.0.5');
SELECT * FROM gdpr.expire_nowait(1);
-- one audit entry per batch: the first pass (2 rows), then two batches
SELECT details->>'deleted' AS deleted FROM gdpr.audit_log
 WHERE action = 'expire' AND relation = 'shop.visit'::regclass ORDER BY id;

-- bad input and privileges
SELECT * FROM gdpr.expire(NULL);
SELECT * FROM gdpr.expire_nowait(0);
SELECT * FROM gdpr.expire_nowait(NULL);
SELECT has_function_privilege('public', 'gdpr.expire(boolean)', 'EXECUTE') AS public_may_expire,
       has_function_privilege('public', 'gdpr.expire_nowait(integer)', 'EXECUTE') AS public_may_expire_nowait,
       has_table_privilege('public', 'gdpr.retention_runs', 'SELECT') AS public_sees_runs;

-- settings: defined, units accepted in the file, reload-only
SELECT name, boot_val, unit, context FROM pg_settings
 WHERE name IN ('gdpr.database', 'gdpr.retention_naptime', 'gdpr.retention_batch_size',
                'gdpr.retention_enabled', 'gdpr.retention_runs_keep')
 ORDER BY name;
SET gdpr.retention_naptime = '10min';

\c contrib_regression
DROP DATABASE retention_regress;
