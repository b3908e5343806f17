-- gdpr_crm demo, part 7: retention expiry (Art. 5(1)(e), storage limitation).
-- Data whose purposes have all run out disappears by itself: a column is
-- cleared when every purpose it is tagged with ran out (marketing data of
-- customers who left), a row is deleted when none of its purposes still runs
-- (website visits after 13 months), or anonymized where something that must
-- stay refers to it.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\echo
\echo '=== 70 retention: data older than its retention disappears by itself ==='
\echo
\echo '--- the retention worker serves this database (gdpr.database) every naptime:'
SELECT name, setting, unit FROM pg_settings
 WHERE name IN ('gdpr.database', 'gdpr.retention_naptime', 'gdpr.retention_batch_size',
                'gdpr.retention_enabled', 'gdpr.retention_runs_keep')
 ORDER BY name;

\echo '--- pause it (a reload, no restart) so we can do one pass by hand'
ALTER SYSTEM SET gdpr.retention_enabled = off;
SELECT pg_reload_conf() AS reloaded;
SELECT pg_sleep(2);

\echo '--- what the worker already did since the tags were set (part 1):'
SELECT relation, action, sum(rows) AS rows, min(started_at)::time(0) AS first, max(finished_at)::time(0) AS last
  FROM gdpr.retention_runs WHERE source = 'worker' GROUP BY 1, 2 ORDER BY 1, 2;

\echo '--- ten customers stopped visiting three years ago, and some visits are old'
CREATE TEMP TABLE vertrokken AS
  SELECT k.klant_id FROM winkel.klanten k
   WHERE k.geboortedatum IS NOT NULL
     AND EXISTS (SELECT 1 FROM winkel.nieuwsbrief_inschrijvingen n WHERE n.klant_id = k.klant_id)
   ORDER BY k.klant_id LIMIT 10;
UPDATE winkel.klanten SET laatst_actief = now() - interval '3 years'
 WHERE klant_id IN (SELECT klant_id FROM vertrokken);
UPDATE winkel.websitebezoeken SET bezocht_op = now() - interval '14 months'
 WHERE bezoek_id IN (SELECT bezoek_id FROM winkel.websitebezoeken ORDER BY bezoek_id LIMIT 25);
SELECT k.klant_id, k.voornaam, k.geboortedatum, k.laatst_actief::date,
       (SELECT count(*) FROM winkel.nieuwsbrief_inschrijvingen n WHERE n.klant_id = k.klant_id) AS nieuwsbrief
  FROM winkel.klanten k WHERE k.klant_id IN (SELECT klant_id FROM vertrokken) ORDER BY k.klant_id;
SELECT count(*) AS bezoeken_ouder_dan_13_maanden FROM winkel.websitebezoeken
 WHERE bezocht_op < now() - interval '13 months';

\echo '--- gdpr.expire(true): what one pass would do now (a dry run changes nothing)'
SELECT * FROM gdpr.expire(true);

\echo '--- gdpr.expire(): do it (exactly what the dry run said)'
SELECT * FROM gdpr.expire();

\echo '--- the customers stay (their delivery purpose has no end), but their birth date'
\echo '--- (analytics, 13 months) is cleared and their newsletter sign-up (2 years) is gone'
SELECT k.klant_id, k.voornaam, k.geboortedatum, k.laatst_actief::date,
       (SELECT count(*) FROM winkel.nieuwsbrief_inschrijvingen n WHERE n.klant_id = k.klant_id) AS nieuwsbrief
  FROM winkel.klanten k WHERE k.klant_id IN (SELECT klant_id FROM vertrokken) ORDER BY k.klant_id;
SELECT count(*) AS bezoeken_ouder_dan_13_maanden FROM winkel.websitebezoeken
 WHERE bezocht_op < now() - interval '13 months';

\echo '--- one audit entry per relation and batch, not one per row'
SELECT id, action, relation, details FROM gdpr.audit_log
 WHERE action = 'expire' ORDER BY id DESC LIMIT 4;

\echo '--- the worker again: switch it on; an old visit arrives and vanishes while we watch'
ALTER SYSTEM RESET gdpr.retention_enabled;
SELECT pg_reload_conf() AS reloaded;
INSERT INTO winkel.websitebezoeken (klant_id, ip_adres, bezocht_op, pagina)
  SELECT min(klant_id), '192.0.2.70', now() - interval '2 years', '/oude-actie' FROM winkel.klanten
  RETURNING bezoek_id AS oud_bezoek \gset
CREATE FUNCTION pg_temp.wacht_tot_weg(id int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    WHILE EXISTS (SELECT 1 FROM winkel.websitebezoeken WHERE bezoek_id = id) LOOP
        IF clock_timestamp() > t0 + interval '60 seconds' THEN
            RETURN 'still there after 60 s (is the worker running?)';
        END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;
    RETURN 'removed by the worker after ' || round(extract(epoch FROM clock_timestamp() - t0)::numeric, 1) || ' s';
END $$;
SELECT pg_temp.wacht_tot_weg(:oud_bezoek) AS oud_bezoek;

\echo '--- gdpr.retention_runs: the log of runs (bounded by gdpr.retention_runs_keep)'
SELECT started_at::time(0), relation, action, rows, error, source
  FROM gdpr.retention_runs ORDER BY finished_at DESC LIMIT 6;
