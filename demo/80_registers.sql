-- gdpr_crm demo, part 8: what an auditor or a data subject asks for.
-- A subject access request answered with a machine-readable export, the
-- processors and the record of processing activities (derived, never typed
-- twice), a breach with its 72-hour clock, and the compliance self-check
-- with one deliberate problem and its fix.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\echo
\echo '=== 80 registers: access export, processors, processing register, breaches, compliance report ==='

\echo '--- processors (Art. 28): a Dutch host, a US newsletter tool, a German analytics tool ---'
\o /dev/null
SELECT gdpr.register_processor('Hosting Noord B.V.', 'NL', current_date - 400, NULL,
                               '{levering,facturen,nieuwsbrief,analytics}', 'privacy@hostingnoord.example');
SELECT gdpr.register_processor('MailPost Inc.', 'US', current_date - 700, current_date + 365,
                               '{nieuwsbrief}', 'dpa@mailpost.example',
                               'standard contractual clauses (Commission Decision 2021/914)');
SELECT gdpr.register_processor('Telwerk Analytics GmbH', 'DE', current_date - 200, current_date + 800,
                               '{analytics}', 'datenschutz@telwerk.example');
\o
SELECT name, country, third_country, agreement_valid, purposes FROM gdpr.processors ORDER BY name;

\echo
\echo '--- a customer asks what we hold about them (Art. 15): the request is registered, due in one month ---'
-- a customer with orders and, when the consent demo ran, a consent history
SELECT b.klant_id AS klant FROM winkel.bestellingen b JOIN winkel.klanten k USING (klant_id)
 GROUP BY b.klant_id
 ORDER BY EXISTS (SELECT 1 FROM gdpr.consent_events e
                   WHERE e.subject = 'winkel.klanten'::regclass AND e.subject_key = b.klant_id::text) DESC,
          count(*) DESC, b.klant_id
 LIMIT 1 \gset
SELECT gdpr.request('winkel.klanten', :klant, 'access') AS verzoek \gset
SELECT id, subject, kind, received_at::date AS ontvangen, due_at::date AS uiterlijk, overdue
  FROM gdpr.requests WHERE id = :verzoek;

\echo '--- gdpr.export_subject: every row of the customer across the schema, with what the GDPR says they must be told ---'
SELECT gdpr.export_subject('winkel.klanten', :klant) AS export \gset
\echo 'rows per table in the export (checked against plain SQL):'
SELECT d.key AS tabel, jsonb_array_length(d.value) AS rijen_in_export,
       CASE d.key
           WHEN 'winkel.klanten' THEN (SELECT count(*) FROM winkel.klanten WHERE klant_id = :klant)
           WHEN 'winkel.bestellingen' THEN (SELECT count(*) FROM winkel.bestellingen WHERE klant_id = :klant)
           WHEN 'winkel.bestelregels' THEN (SELECT count(*) FROM winkel.bestelregels r
                                              JOIN winkel.bestellingen b USING (bestelling_id) WHERE b.klant_id = :klant)
           WHEN 'winkel.facturen' THEN (SELECT count(*) FROM winkel.facturen WHERE klant_id = :klant)
           WHEN 'winkel.nieuwsbrief_inschrijvingen' THEN (SELECT count(*) FROM winkel.nieuwsbrief_inschrijvingen WHERE klant_id = :klant)
           WHEN 'winkel.websitebezoeken' THEN (SELECT count(*) FROM winkel.websitebezoeken WHERE klant_id = :klant)
           -- an address is theirs when only they (and their orders) point to it
           WHEN 'winkel.adressen' THEN (SELECT count(*) FROM winkel.adressen a
                WHERE (a.adres_id IN (SELECT adres_id FROM winkel.klanten WHERE klant_id = :klant)
                       OR a.adres_id IN (SELECT bezorgadres_id FROM winkel.bestellingen WHERE klant_id = :klant))
                  AND NOT EXISTS (SELECT 1 FROM winkel.klanten k WHERE k.adres_id = a.adres_id AND k.klant_id <> :klant)
                  AND NOT EXISTS (SELECT 1 FROM winkel.bestellingen b WHERE b.bezorgadres_id = a.adres_id AND b.klant_id <> :klant))
       END AS rijen_volgens_sql
  FROM jsonb_each(:'export'::jsonb -> 'data') d ORDER BY 1;
\echo 'the customer row and one invoice, with what each column is held for:'
SELECT jsonb_pretty(jsonb_build_object(
           'winkel.klanten', :'export'::jsonb -> 'data' -> 'winkel.klanten' -> 0,
           'winkel.facturen (1 of n)', :'export'::jsonb -> 'data' -> 'winkel.facturen' -> 0,
           'columns of winkel.klanten', :'export'::jsonb -> 'columns' -> 'winkel.klanten')) AS export_trimmed;
\echo 'and the information of Art. 15(1) (purposes, recipients, retention, rights, complaint authority):'
SELECT jsonb_pretty(:'export'::jsonb - 'data' - 'columns') AS export_info;
SELECT gdpr.complete_request(:verzoek, 'export sent to the customer by e-mail');
SELECT id, kind, completed_at IS NOT NULL AS afgehandeld, note FROM gdpr.requests WHERE id = :verzoek;

\echo
\echo '--- the record of processing activities (Art. 30(1)): derived from purposes, tags, subject tables, processors ---'
SELECT purpose, legal_basis, data_categories, recipients, third_countries, retention
  FROM gdpr.processing_register ORDER BY purpose;
\echo 'printable (Markdown):'
\set QUIET on
\pset format unaligned
\pset tuples_only on
SELECT gdpr.processing_register_document('Webwinkel De Klomp B.V., Utrecht', 'privacy@deklomp.example');
\pset tuples_only off
\pset format aligned
\set QUIET off

\echo
\echo '--- a breach (Art. 33): a newsletter export mailed to the wrong address two hours ago ---'
SELECT gdpr.report_breach('Export van nieuwsbriefadressen naar verkeerde ontvanger gemaild',
                          now() - interval '2 hours',
                          '{winkel.nieuwsbrief_inschrijvingen}', '{contact.email}') AS lek \gset
SELECT id, description, notify_by - discovered_at AS termijn, overdue, affected_subjects,
       (SELECT count(DISTINCT klant_id) FROM winkel.nieuwsbrief_inschrijvingen) AS volgens_sql
  FROM gdpr.breaches WHERE id = :lek;
SELECT gdpr.notify_breach(:lek);
SELECT id, notified_at IS NOT NULL AS gemeld, overdue, notified_late FROM gdpr.breaches WHERE id = :lek;

\echo
\echo '--- the compliance report, with one deliberate problem: the newsletter tool''s agreement expired yesterday, ---'
\echo '--- and an intern was given SELECT on winkel.klanten ---'
\o /dev/null
SELECT gdpr.register_processor('MailPost Inc.', 'US', current_date - 700, current_date - 1,
                               '{nieuwsbrief}', 'dpa@mailpost.example',
                               'standard contractual clauses (Commission Decision 2021/914)');
\o
DROP ROLE IF EXISTS stagiair;
CREATE ROLE stagiair;
GRANT USAGE ON SCHEMA winkel TO stagiair;
GRANT SELECT ON winkel.klanten TO stagiair;
\set QUIET on
\pset format wrapped
\pset columns 160
\set QUIET off
SELECT check_name, status, detail FROM gdpr.compliance_report();

\echo '--- the fix: the renewed agreement is registered, the intern''s grant revoked ---'
\o /dev/null
SELECT gdpr.register_processor('MailPost Inc.', 'US', current_date, current_date + 3 * 365,
                               '{nieuwsbrief}', 'dpa@mailpost.example',
                               'standard contractual clauses (Commission Decision 2021/914)');
\o
REVOKE SELECT ON winkel.klanten FROM stagiair;
REVOKE USAGE ON SCHEMA winkel FROM stagiair;
SELECT check_name, status, detail FROM gdpr.compliance_report()
 WHERE check_name IN ('processor_agreements', 'direct_table_access');
\set QUIET on
\pset format aligned
\set QUIET off
DROP ROLE stagiair;

\echo '--- every step above is in the audit log ---'
SELECT action, count(*) FROM gdpr.audit_log
 WHERE action IN ('export', 'request.open', 'request.complete', 'processor.register', 'breach.report', 'breach.notify')
 GROUP BY action ORDER BY action;
