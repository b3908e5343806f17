-- demo 60: the right to erasure (Art. 17) on the webshop.
-- A customer with old and recent invoices, a newsletter subscription, website
-- visits and a friend she referred asks to be forgotten.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\echo
\echo '=== 60 erase: gdpr.erase() forgets a customer, keeps what the tax office needs ==='

-- the customer with the most to show: invoices older and younger than 7
-- years, someone she referred, a newsletter subscription, website visits
SELECT k.klant_id AS klant
  FROM winkel.klanten k
 ORDER BY (EXISTS (SELECT 1 FROM winkel.facturen f WHERE f.klant_id = k.klant_id
                      AND f.factuurdatum < now() - interval '7 years'))::int * 4 +
          (EXISTS (SELECT 1 FROM winkel.facturen f WHERE f.klant_id = k.klant_id
                      AND f.factuurdatum >= now() - interval '7 years'))::int +
          (EXISTS (SELECT 1 FROM winkel.klanten r WHERE r.aangebracht_door = k.klant_id))::int +
          (EXISTS (SELECT 1 FROM winkel.nieuwsbrief_inschrijvingen n WHERE n.klant_id = k.klant_id))::int +
          (EXISTS (SELECT 1 FROM winkel.websitebezoeken w WHERE w.klant_id = k.klant_id))::int DESC,
          k.klant_id
 LIMIT 1 \gset

\echo '--- the customer and everything that is hers (gdpr._subject_reach walks the foreign keys):'
SELECT klant_id, voornaam, achternaam, email, telefoon, geboortedatum, adres_id
  FROM winkel.klanten WHERE klant_id = :klant;
SELECT relation, count(*) AS "rows" FROM gdpr._subject_reach('winkel.klanten', :klant)
 GROUP BY relation ORDER BY relation::text;
SELECT factuur_id, factuurdatum, bedrag, naam_op_factuur, factuuradres,
       factuurdatum >= now() - interval '7 years' AS binnen_7_jaar
  FROM winkel.facturen WHERE klant_id = :klant ORDER BY factuur_id;
\echo '--- she referred these customers (a self reference: other people, not her data):'
SELECT klant_id, voornaam, aangebracht_door FROM winkel.klanten WHERE aangebracht_door = :klant ORDER BY 1;
SELECT gdpr.request('winkel.klanten', :klant, 'erasure') AS verzoek \gset

\echo '--- first a dry run: what would happen (nothing changes, nothing is logged):'
SELECT * FROM gdpr.erase('winkel.klanten', :klant, 'verzoek per e-mail', dry_run => true);

\echo '--- the erasure itself, in one transaction:'
SELECT * FROM gdpr.erase('winkel.klanten', :klant, 'verzoek per e-mail');

\echo '--- invoices inside the 7 years of the legal obligation (facturen) stay with their'
\echo '    amounts; name and address on them were held for delivery (levering) only, so they'
\echo '    are cleared (NOT NULL columns get a neutral value). Older invoices are deleted'
\echo '    (the retention worker may already have removed those):'
SELECT factuur_id, factuurdatum, bedrag, naam_op_factuur, factuuradres
  FROM winkel.facturen WHERE klant_id = :klant ORDER BY factuur_id;
\echo '--- orders and their lines: gone (nothing the law requires refers to them):'
SELECT b.bestelling_id, b.besteld_op::date, b.totaal,
       (SELECT count(*) FROM winkel.bestelregels r WHERE r.bestelling_id = b.bestelling_id) AS regels
  FROM winkel.bestellingen b WHERE b.klant_id = :klant ORDER BY 1;
\echo '--- the customer row stays for the invoices, cleared of what no legal duty needs:'
SELECT klant_id, voornaam, achternaam, email, telefoon, geboortedatum, adres_id
  FROM winkel.klanten WHERE klant_id = :klant;
\echo '--- newsletter, website visits, consent history: gone; the friends are no longer linked to her:'
SELECT (SELECT count(*) FROM winkel.nieuwsbrief_inschrijvingen WHERE klant_id = :klant) AS nieuwsbrief,
       (SELECT count(*) FROM winkel.websitebezoeken WHERE klant_id = :klant) AS bezoeken,
       (SELECT count(*) FROM gdpr.consent_events
         WHERE subject = 'winkel.klanten'::regclass AND subject_key = :'klant') AS toestemmingen,
       (SELECT count(*) FROM winkel.klanten WHERE aangebracht_door = :klant) AS aangebracht;
\echo '--- one audit entry: counts per table and a keyed hash of the customer, never her key or data:'
SELECT id, action, subject_ref, relation, details->>'reason' AS reason
  FROM gdpr.audit_log WHERE action = 'erase' ORDER BY id DESC LIMIT 1;
SELECT r.key AS relation, d.key AS action, r.value AS "rows"
  FROM gdpr.audit_log a, jsonb_each(a.details) d, jsonb_each(d.value) r
 WHERE a.id = (SELECT max(id) FROM gdpr.audit_log WHERE action = 'erase')
   AND jsonb_typeof(d.value) = 'object'
 ORDER BY 2, 1;
\echo '--- her erasure request was completed by the erase:'
SELECT id, kind, received_at::date, due_at::date, completed_at IS NOT NULL AS afgehandeld
  FROM gdpr.requests WHERE id = :verzoek;
\echo '--- asking again: nothing to do, nothing logged:'
SELECT * FROM gdpr.erase('winkel.klanten', :klant);
