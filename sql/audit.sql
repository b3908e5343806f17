-- The audit log (API 7): append-only, hash-chained, written at commit.
-- Runs in a database of its own so the ids are known.
CREATE DATABASE audit_regress;
\c audit_regress
SET client_min_messages = warning;
CREATE EXTENSION gdpr_crm CASCADE;
RESET client_min_messages;
\set VERBOSITY default

CREATE SCHEMA shop;
CREATE TABLE shop.customer (id int PRIMARY KEY, name text);
CREATE TABLE shop.note (id text PRIMARY KEY);

-- the secret: one 32-byte row
SELECT count(*), bool_and(length(secret) = 32) AS len32 FROM gdpr.secret;

-- an entry is queued and only written (and chained) at commit
BEGIN;
SELECT gdpr._audit('erase', gdpr.subject_ref('shop.customer', 1), 'shop.customer', '{"rows": 3}');
SELECT count(*) AS visible_before_commit FROM gdpr.audit_log;
COMMIT;
SELECT gdpr._audit('export', NULL, NULL, NULL);

-- rollback and subtransaction rollback leave nothing
BEGIN;
SELECT gdpr._audit('purpose.define', NULL, NULL, '{"name": "gone"}');
ROLLBACK;
BEGIN;
SELECT gdpr._audit('tag.set', NULL, 'shop.customer', '{"n": 1}');
SAVEPOINT a;
SELECT gdpr._audit('tag.set', NULL, 'shop.customer', '{"n": "rolled back"}');
SAVEPOINT b;
SELECT gdpr._audit('tag.set', NULL, 'shop.customer', '{"n": "rolled back, nested"}');
RELEASE b;
ROLLBACK TO a;
SELECT gdpr._audit('tag.remove', NULL, 'shop.customer', '{"n": 2}');
SAVEPOINT c;
SELECT gdpr._audit('tag.set', NULL, 'shop.customer', '{"n": 3}');
RELEASE c;
COMMIT;
-- a PL/pgSQL exception block is a subtransaction too
DO $$
BEGIN
    PERFORM gdpr._audit('view.create', NULL, NULL, '{"n": 4}');
    BEGIN
        PERFORM gdpr._audit('view.drop', NULL, NULL, '{"n": "lost"}');
        RAISE EXCEPTION 'boom';
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
END;
$$;
-- an entry for a relation dropped later in the same transaction keeps its name
BEGIN;
CREATE TABLE shop.tmp (id int);
SELECT gdpr._audit('view.drop', NULL, 'shop.tmp', NULL);
DROP TABLE shop.tmp;
COMMIT;

-- ids follow the chain, without gaps; each entry links to the previous one
SELECT id, actor, action, subject_ref IS NOT NULL AS has_ref, relation, relation_name, details,
       length(hash) AS hash_len,
       prev_hash = coalesce(lag(hash) OVER (ORDER BY id), '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea) AS linked
  FROM gdpr.audit_log ORDER BY id;
SELECT * FROM gdpr.verify_audit();

-- append-only, for the owner (a superuser here) too
UPDATE gdpr.audit_log SET action = 'erase' WHERE id = 2;
DELETE FROM gdpr.audit_log WHERE id = 2;
DELETE FROM gdpr.audit_log WHERE false;
TRUNCATE gdpr.audit_log;
SELECT count(*) FROM gdpr.audit_log;

-- bad input
SELECT gdpr._audit('bogus', NULL, NULL, NULL);
SELECT gdpr._audit(NULL, NULL, NULL, NULL);
SELECT gdpr._audit('erase', '42', 'shop.customer', NULL);
BEGIN READ ONLY;
SELECT gdpr._audit('export', NULL, NULL, NULL);
ROLLBACK;
BEGIN;
SELECT gdpr._audit('export', NULL, NULL, NULL);
PREPARE TRANSACTION 'audit_regress_p1';
SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'audit_regress_p1';
SELECT gdpr.verify_audit(1, NULL);
SELECT max(id) FROM gdpr.audit_log;

-- Tampering.  A superuser who disables the triggers is outside what the
-- triggers can stop; verify_audit() then finds the change.
ALTER TABLE gdpr.audit_log DISABLE TRIGGER audit_log_append_only;
CREATE TEMP TABLE saved AS SELECT * FROM gdpr.audit_log;
-- altered content
UPDATE gdpr.audit_log SET details = '{"rows": 1}' WHERE id = 1;
SELECT * FROM gdpr.verify_audit();
UPDATE gdpr.audit_log l SET details = s.details FROM saved s WHERE l.id = s.id AND l.id = 1;
SELECT * FROM gdpr.verify_audit();
-- altered actor, timestamp, relation name of the third entry
UPDATE gdpr.audit_log SET actor = 'somebody' WHERE id = 3;
SELECT * FROM gdpr.verify_audit();
UPDATE gdpr.audit_log SET actor = 'postgres', at = at + interval '1 second' WHERE id = 3;
SELECT * FROM gdpr.verify_audit();
UPDATE gdpr.audit_log l SET at = s.at, relation_name = 'shop.other' FROM saved s WHERE l.id = s.id AND l.id = 3;
SELECT * FROM gdpr.verify_audit();
UPDATE gdpr.audit_log l SET relation_name = s.relation_name FROM saved s WHERE l.id = s.id AND l.id = 3;
-- a re-linked prev_hash
UPDATE gdpr.audit_log SET prev_hash = '\x00'::bytea WHERE id = 5;
SELECT * FROM gdpr.verify_audit();
UPDATE gdpr.audit_log l SET prev_hash = s.prev_hash FROM saved s WHERE l.id = s.id AND l.id = 5;
-- a removed entry: reported as the missing id
DELETE FROM gdpr.audit_log WHERE id = 4;
SELECT * FROM gdpr.verify_audit();
INSERT INTO gdpr.audit_log SELECT * FROM saved WHERE id = 4;
-- a removed first entry
DELETE FROM gdpr.audit_log WHERE id = 1;
SELECT * FROM gdpr.verify_audit();
INSERT INTO gdpr.audit_log SELECT * FROM saved WHERE id = 1;
SELECT * FROM gdpr.verify_audit();
-- a removed tail is only visible against an anchor recorded earlier
CREATE TEMP TABLE anchor AS SELECT * FROM gdpr.audit_head();
SELECT id FROM anchor;
SELECT * FROM gdpr.verify_audit((SELECT id FROM anchor), (SELECT hash FROM anchor));
DELETE FROM gdpr.audit_log WHERE id = (SELECT id FROM anchor);
SELECT * FROM gdpr.verify_audit();
SELECT * FROM gdpr.verify_audit((SELECT id FROM anchor), (SELECT hash FROM anchor));
INSERT INTO gdpr.audit_log SELECT * FROM saved WHERE id = (SELECT id FROM anchor);
SELECT * FROM gdpr.verify_audit((SELECT id FROM anchor), '\x01'::bytea);
SELECT * FROM gdpr.verify_audit(NULL, (SELECT hash FROM anchor));
ALTER TABLE gdpr.audit_log ENABLE TRIGGER audit_log_append_only;
SELECT * FROM gdpr.verify_audit((SELECT id FROM anchor), (SELECT hash FROM anchor));
-- the chain continues after the restored rows
SELECT gdpr._audit('export', NULL, NULL, NULL);
SELECT * FROM gdpr.verify_audit();

-- every hash can be recomputed outside gdpr_crm from the documented
-- serialisation (docs/audit.md), here with the server's sha256()
CREATE FUNCTION pg_temp.field(t text) RETURNS bytea LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN t IS NULL THEN '\x00'::bytea
               ELSE '\x01'::bytea || int4send(octet_length(convert_to(t, 'UTF8'))) || convert_to(t, 'UTF8') END $$;
SELECT count(*) > 0 AS entries,
       bool_and(hash = sha256(convert_to('gdpr_crm.audit.v1', 'UTF8') || '\x00'::bytea
                              || int8send(id)
                              || int8send((extract(epoch FROM at) * 1000000)::int8 - 946684800000000)
                              || pg_temp.field(actor::text) || pg_temp.field(action)
                              || pg_temp.field(subject_ref) || pg_temp.field(relation_name)
                              || pg_temp.field(details::text) || prev_hash)) AS recomputed
  FROM gdpr.audit_log;

-- subject_ref: a keyed hash of (relation name, key coerced to the key column's type)
SELECT gdpr.subject_ref('shop.customer', 42) = gdpr.subject_ref('shop.customer', '042') AS same_key,
       gdpr.subject_ref('shop.customer', 42) = gdpr.subject_ref('shop.customer', 42::bigint) AS same_bigint,
       gdpr.subject_ref('shop.customer', 42) <> gdpr.subject_ref('shop.customer', 43) AS other_key,
       gdpr.subject_ref('shop.customer', 42) <> gdpr.subject_ref('shop.note', 42) AS other_table,
       gdpr.subject_ref('shop.customer', 42) ~ '^[0-9a-f]{64}$' AS hex64;
-- it is HMAC-SHA256 with the database's secret (and not a plain hash)
SELECT gdpr.subject_ref('shop.note', 'a b') =
       encode(hmac(convert_to('shop.note', 'UTF8') || '\x00'::bytea || convert_to('a b', 'UTF8'),
                   (SELECT secret FROM gdpr.secret), 'sha256'), 'hex') AS is_hmac,
       gdpr.subject_ref('shop.note', 'a b') <>
       encode(digest(convert_to('shop.note', 'UTF8') || '\x00'::bytea || convert_to('a b', 'UTF8'), 'sha256'), 'hex') AS not_plain;
-- the key column is the SUBJECT KEY tag when there is one (here not the primary key),
-- and a partition is referenced as its labelled parent
CREATE TABLE shop.member (id int PRIMARY KEY, email text UNIQUE);
SELECT gdpr.register_subject_table('shop.member', 'email');
SELECT gdpr.subject_ref('shop.member', 'a@b.nl') =
       encode(hmac(convert_to('shop.member', 'UTF8') || '\x00'::bytea || convert_to('a@b.nl', 'UTF8'),
                   (SELECT secret FROM gdpr.secret), 'sha256'), 'hex') AS email_is_key;
CREATE TABLE shop.part (id int PRIMARY KEY, name text) PARTITION BY RANGE (id);
CREATE TABLE shop.part_1 PARTITION OF shop.part FOR VALUES FROM (0) TO (100);
SELECT gdpr.register_subject_table('shop.part', 'id');
SELECT gdpr.subject_ref('shop.part_1', 5) = gdpr.subject_ref('shop.part', '05') AS partition_as_parent;
SELECT gdpr.subject_ref('shop.customer', 'abc');
SELECT gdpr.subject_ref(NULL, 1) IS NULL AS null_subject, gdpr.subject_ref('shop.customer', NULL::int) IS NULL AS null_key;
-- another secret gives other refs (the restore path: the inserted row replaces the old one)
CREATE TEMP TABLE ref_before AS SELECT gdpr.subject_ref('shop.customer', 42) AS ref;
CREATE TEMP TABLE old_secret AS SELECT secret FROM gdpr.secret;
INSERT INTO gdpr.secret (secret) VALUES (gen_random_bytes(32));
SELECT count(*) FROM gdpr.secret;
SELECT gdpr.subject_ref('shop.customer', 42) <> (SELECT ref FROM ref_before) AS changed,
       gdpr.subject_ref('shop.customer', 42) =
       encode(hmac(convert_to('shop.customer', 'UTF8') || '\x00'::bytea || convert_to('42', 'UTF8'),
                   (SELECT secret FROM gdpr.secret), 'sha256'), 'hex') AS new_secret_hmac;
INSERT INTO gdpr.secret (secret) SELECT secret FROM old_secret;
SELECT gdpr.subject_ref('shop.customer', 42) = (SELECT ref FROM ref_before) AS back;
\set VERBOSITY terse
INSERT INTO gdpr.secret (secret) VALUES ('\x0102');
\set VERBOSITY default

-- privileges: nothing for PUBLIC; the actor is the calling role, also
-- through a SECURITY DEFINER function
CREATE ROLE audit_regress_clerk;
SET ROLE audit_regress_clerk;
SELECT * FROM gdpr.audit_log;
SELECT * FROM gdpr.secret;
SELECT gdpr._audit('export', NULL, NULL, NULL);
SELECT gdpr.subject_ref('pg_class', 1);
SELECT * FROM gdpr.verify_audit();
SELECT * FROM gdpr.audit_head();
RESET ROLE;
CREATE FUNCTION shop.do_export() RETURNS void LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT gdpr._audit('export', NULL, NULL, '{"via": "definer"}') $$;
GRANT USAGE ON SCHEMA shop TO audit_regress_clerk;
SET ROLE audit_regress_clerk;
SELECT shop.do_export();
RESET ROLE;
SELECT id, actor, action, details FROM gdpr.audit_log ORDER BY id DESC LIMIT 1;
SELECT * FROM gdpr.verify_audit();

\c contrib_regression
DROP DATABASE audit_regress;
DROP ROLE audit_regress_clerk;
