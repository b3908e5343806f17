-- gdpr.erase: the contract (API sections 5 and 11) on a small webshop with
-- hostile identifiers: quoted, mixed case, spaces, quotes, semicolons and a
-- schema of its own.  Shared address kept, own address deleted, invoices
-- kept and anonymized, dry run == real run, idempotence, one audit entry,
-- the open erasure request completed, and the errors.
SET client_min_messages = warning;
\set VERBOSITY terse
CREATE SCHEMA "Er;ase ""Shop""";
SET search_path = "Er;ase ""Shop""", public;
SELECT gdpr.define_purpose('er_delivery', 'contract');
SELECT gdpr.define_purpose('er_tax', 'legal_obligation', '7 years');
SELECT gdpr.define_purpose('er_news', 'consent', '2 years');

CREATE TABLE "Adres Book" ("Adres;Id" int PRIMARY KEY, "Street's" text, city text);
CREATE TABLE "Klant Tabel" (
  "Klant-Id" int PRIMARY KEY,
  "Naam" text NOT NULL,
  "E ""Mail""" text NOT NULL UNIQUE,
  born date NOT NULL,
  "Adres;Id" int REFERENCES "Adres Book",
  referred_by int REFERENCES "Klant Tabel");
CREATE TABLE "best;ellingen" (id int PRIMARY KEY,
  "Klant ""Id""" int NOT NULL REFERENCES "Klant Tabel",
  at timestamptz NOT NULL, ship_to int REFERENCES "Adres Book");
CREATE TABLE "Regel; DROP TABLE x" ("best Id" int REFERENCES "best;ellingen", n int, product text,
  PRIMARY KEY ("best Id", n));
CREATE TABLE "Factuur" (id int PRIMARY KEY, "best Id" int REFERENCES "best;ellingen",
  "Klant-Id" int REFERENCES "Klant Tabel", "Datum" date NOT NULL, amount numeric NOT NULL,
  "Naam op factuur" text NOT NULL, address text);
SECURITY LABEL FOR gdpr ON TABLE "Klant Tabel" IS 'SUBJECT KEY ("Klant-Id")';
SECURITY LABEL FOR gdpr ON COLUMN "Klant Tabel"."Naam" IS 'PURPOSE er_delivery CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN "Klant Tabel"."E ""Mail""" IS 'PURPOSE er_delivery CATEGORY contact.email';
SECURITY LABEL FOR gdpr ON COLUMN "Klant Tabel".born IS 'PURPOSE er_delivery CATEGORY demographic';
SECURITY LABEL FOR gdpr ON COLUMN "Adres Book"."Street's" IS 'PURPOSE er_delivery CATEGORY contact.address';
SECURITY LABEL FOR gdpr ON TABLE "Factuur" IS 'RETAIN FROM "Datum"';
SECURITY LABEL FOR gdpr ON COLUMN "Factuur".amount IS 'PURPOSE er_tax CATEGORY financial';
SECURITY LABEL FOR gdpr ON COLUMN "Factuur"."Naam op factuur" IS 'PURPOSE er_delivery CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN "Factuur".address IS 'PURPOSE er_delivery CATEGORY contact.address';

INSERT INTO "Adres Book" VALUES (1, 'Own street 1', 'Urk'), (2, 'Shared 2', 'Ede'), (3, 'Ship 3', 'Ede');
INSERT INTO "Klant Tabel" VALUES
  (1, 'Jan', 'jan@example.org', '1980-01-01', 1, NULL),
  (2, 'Piet', 'piet@example.org', '1981-01-01', 2, 1),
  (3, 'Kees', 'kees@example.org', '1982-01-01', 2, NULL),
  (4, 'Joke', 'joke@example.org', '1983-01-01', NULL, NULL);
INSERT INTO "best;ellingen" VALUES (10, 1, '2010-01-01', 3), (11, 1, now(), 1), (12, 1, now(), 2),
  (20, 2, now(), 2), (40, 4, now(), NULL);
INSERT INTO "Regel; DROP TABLE x" VALUES (10, 1, 'a'), (10, 2, 'b'), (11, 1, 'c'), (11, 2, 'd'),
  (12, 1, 'e'), (12, 2, 'f'), (20, 1, 'g'), (40, 1, 'h');
INSERT INTO "Factuur" VALUES (100, 10, 1, '2010-01-02', 10, 'Jan', 'Urk'),
  (101, 11, 1, current_date, 20, 'Jan', 'Urk'), (400, 40, 4, '2012-01-01', 5, 'Joke', NULL);

-- errors: nothing changes
SELECT * FROM gdpr.erase(NULL, 1);
SELECT * FROM gdpr.erase('"Klant Tabel"', NULL::int);
SELECT * FROM gdpr.erase('"Klant Tabel"', 'one');
SELECT * FROM gdpr.erase('"Klant Tabel"', 1.5);
SELECT * FROM gdpr.erase('"Klant Tabel"', now());
SELECT * FROM gdpr.erase('"Adres Book"', 1);
SELECT * FROM gdpr.erase('"Klant Tabel"', 1, dry_run => NULL);
SELECT * FROM gdpr.erase('no_such_table', 1);
-- a key nobody has: nothing to do
SELECT * FROM gdpr.erase('"Klant Tabel"', 999);

-- Jan's consent history: granted, withdrawn, granted again; Piet's stays
SELECT gdpr.grant_consent('"Klant Tabel"', 1, 'er_news', 'checkbox') > 0 AS granted;
SELECT gdpr.withdraw_consent('"Klant Tabel"', 1, 'er_news');
SELECT gdpr.grant_consent('"Klant Tabel"', 1, 'er_news', 'double_opt_in') > 0 AS granted;
SELECT gdpr.grant_consent('"Klant Tabel"', 2, 'er_news', 'checkbox') > 0 AS granted;
SELECT subject_key, count(*) FROM gdpr.consent_events WHERE purpose = 'er_news' GROUP BY 1 ORDER BY 1;

-- an open erasure request of Jan, completed by the erase
SELECT gdpr.request('"Klant Tabel"', 1, 'erasure') AS request_id \gset
SELECT count(*) AS erase_entries FROM gdpr.audit_log WHERE action = 'erase' \gset before_

-- the dry run: what would happen; nothing changes, no audit entry
CREATE TEMP TABLE plan AS SELECT * FROM gdpr.erase('"Klant Tabel"', 1, 'asked by mail', true);
SELECT * FROM plan ORDER BY relation::text, action;
SELECT (SELECT count(*) FROM "Klant Tabel") AS klanten, (SELECT count(*) FROM "best;ellingen") AS orders,
       (SELECT count(*) FROM "Regel; DROP TABLE x") AS lines, (SELECT count(*) FROM "Adres Book") AS addresses,
       (SELECT count(*) FROM gdpr.audit_log WHERE action = 'erase') - :before_erase_entries AS new_entries;

-- the real run, the key given as text: the same result as the dry run
CREATE TEMP TABLE done AS SELECT * FROM gdpr.erase('"Klant Tabel"', '1', 'asked by mail');
SELECT count(*) AS differences FROM
  ((SELECT * FROM plan EXCEPT ALL SELECT * FROM done)
   UNION ALL (SELECT * FROM done EXCEPT ALL SELECT * FROM plan)) d;

-- checked with plain SQL
SELECT "Klant-Id", "Naam", CASE WHEN "E ""Mail""" LIKE 'erased-%' THEN 'erased-<n>' ELSE "E ""Mail""" END AS email,
       born, "Adres;Id", referred_by FROM "Klant Tabel" ORDER BY 1;  -- Jan stays (invoice 101), cleared; Piet's link cleared
SELECT * FROM "Adres Book" ORDER BY 1;            -- 1 stays (order 11) cleared, 2 shared kept, 3 gone
SELECT id, "Klant ""Id""", ship_to FROM "best;ellingen" ORDER BY 1;  -- 11 stays (invoice 101)
SELECT * FROM "Regel; DROP TABLE x" ORDER BY 1, 2;
SELECT id, "best Id", "Klant-Id", amount, "Naam op factuur", address FROM "Factuur" ORDER BY 1;  -- 101 keeps its amount, name neutral, address NULL

-- exactly one audit entry, with counts and subject_ref, never the key or a value
SELECT count(*) - :before_erase_entries AS new_entries FROM gdpr.audit_log WHERE action = 'erase';
SELECT a.subject_ref = gdpr.subject_ref('"Klant Tabel"', 1) AS ref_ok,
       a.relation, a.details->>'reason' AS reason,
       (SELECT count(*) FROM jsonb_each(a.details) d, jsonb_each(d.value) r
         WHERE jsonb_typeof(d.value) = 'object') AS steps,
       a.details::text ~ '(Jan|jan@|Urk|1980)' AS leaks
  FROM gdpr.audit_log a WHERE a.action = 'erase' ORDER BY a.id DESC LIMIT 1;
SELECT r.key AS relation, d.key AS action, r.value::int AS rows
  FROM gdpr.audit_log a, jsonb_each(a.details) d, jsonb_each(d.value) r
 WHERE a.id = (SELECT max(id) FROM gdpr.audit_log WHERE action = 'erase')
   AND jsonb_typeof(d.value) = 'object'
 ORDER BY 1, 2;
-- the consent history of Jan is gone, Piet's is not
SELECT subject_key, count(*) FROM gdpr.consent_events WHERE purpose = 'er_news' GROUP BY 1 ORDER BY 1;
SELECT gdpr.has_consent('"Klant Tabel"', 1, 'er_news') AS jan, gdpr.has_consent('"Klant Tabel"', 2, 'er_news') AS piet;
-- the erasure request is completed
SELECT kind, completed_at IS NOT NULL AS completed FROM gdpr.requests WHERE id = :request_id;

-- idempotent: a second call has nothing to do and writes nothing
SELECT * FROM gdpr.erase('"Klant Tabel"', 1);
SELECT * FROM gdpr.erase('"Klant Tabel"', 1, dry_run => true);
SELECT count(*) - :before_erase_entries AS new_entries FROM gdpr.audit_log WHERE action = 'erase';

-- Joke: her old invoice is past retention, so everything goes
SELECT * FROM gdpr.erase('"Klant Tabel"', 4::bigint) ORDER BY relation::text, action;
SELECT count(*) AS joke_rows FROM "Klant Tabel" WHERE "Klant-Id" = 4;

-- a purpose that keeps for ever (legal_obligation without retention)
SELECT gdpr.define_purpose('er_tax', 'legal_obligation', NULL);
INSERT INTO "Klant Tabel" VALUES (5, 'Mien', 'mien@example.org', '1990-01-01', NULL, NULL);
INSERT INTO "best;ellingen" VALUES (50, 5, '2000-01-01', NULL);
INSERT INTO "Factuur" VALUES (500, 50, 5, '2000-01-01', 9, 'Mien', 'Ede');
SELECT * FROM gdpr.erase('"Klant Tabel"', 5) ORDER BY relation::text, action;
SELECT id, amount, "Naam op factuur", address FROM "Factuur" WHERE id = 500;

-- not executable by PUBLIC
SELECT has_function_privilege('public', 'gdpr.erase(regclass, anyelement, text, boolean)', 'EXECUTE') AS erase_public,
       has_function_privilege('public', 'gdpr.erase(regclass, text, text, boolean)', 'EXECUTE') AS erase_text_public,
       has_function_privilege('public', 'gdpr._subject_reach(regclass, anyelement)', 'EXECUTE') AS reach_public;

RESET search_path;
DROP SCHEMA "Er;ase ""Shop""" CASCADE;
DELETE FROM gdpr.request WHERE id = :request_id;
SELECT gdpr.drop_purpose('er_news');
SELECT gdpr.drop_purpose('er_delivery');
SELECT gdpr.drop_purpose('er_tax');
