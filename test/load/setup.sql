-- gdpr_crm load test: schema, purposes, tags, data.  psql variables:
-- n (ageing customers), s (stable customers), secs (run length)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS gdpr_crm CASCADE;
DROP SCHEMA IF EXISTS load CASCADE;
CREATE SCHEMA load;
CREATE TABLE load.klant (id serial PRIMARY KEY, naam text, email text, gezien timestamptz NOT NULL);
CREATE TABLE load.bestelling (id bigserial PRIMARY KEY, klant_id int NOT NULL REFERENCES load.klant,
                              totaal numeric NOT NULL);
CREATE INDEX ON load.bestelling (klant_id);
-- what the clients did, written in the same transaction as the change itself
CREATE TABLE load.ledger (kind text NOT NULL, relation text, action text, n bigint NOT NULL);
SELECT gdpr.define_purpose('ld_analytics', 'legitimate_interests', '1 day');
SELECT gdpr.define_purpose('ld_nieuws', 'consent', '1 day', NULL, '1 year');
SELECT gdpr.register_subject_table('load.klant', 'id');
SELECT gdpr.set_retention_column('load.klant', 'gezien');
SELECT gdpr.tag_column('load.klant', 'naam', ARRAY['ld_analytics', 'ld_nieuws'], 'name');
SELECT gdpr.tag_column('load.klant', 'email', ARRAY['ld_nieuws'], 'contact.email');
SELECT gdpr.tag_column('load.bestelling', 'totaal', ARRAY['ld_analytics'], 'financial');
-- ageing customers 1..n: their retention runs out one after the other during
-- the run (and some already have), so the worker keeps expiring while the
-- clients erase the same population
INSERT INTO load.klant (naam, email, gezien)
SELECT 'klant ' || g, 'k' || g || '@example.nl',
       now() - interval '1 day' - interval '20 seconds' + (g * (:secs + 20) / :n::float) * interval '1 second'
  FROM generate_series(1, :n) g;
-- stable customers n+1..n+s: their consent is granted and withdrawn
INSERT INTO load.klant (naam, email, gezien)
SELECT 'vast ' || g, 'v' || g || '@example.nl', now() + interval '10 years' FROM generate_series(1, :s) g;
INSERT INTO load.bestelling (klant_id, totaal) SELECT 1 + g % (:n + :s), g FROM generate_series(1, 4 * (:n + :s)) g;
SELECT gdpr.create_purpose_view('load.klant', 'ld_nieuws');
CREATE TABLE load.start AS
SELECT (SELECT count(*) FROM load.klant) AS klanten, (SELECT count(*) FROM load.bestelling) AS bestellingen,
       (SELECT coalesce(max(id), 0) FROM gdpr.retention_run) AS last_run,
       (SELECT count(*) FROM gdpr.consent_event) AS consent_events;
ANALYZE;
