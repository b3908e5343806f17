#!/usr/bin/env bash
# Dump/restore of the registers: requests (open, extended, completed),
# processors and breaches survive pg_dump -Fc / pg_restore into a fresh
# database unchanged (relations by name, not OID), and their id sequences
# continue where they were.
# Environment (from scripts/harness.sh): SYS_BIN PGHOST PGPORT PGUSER WORK.
set -euo pipefail

PSQL=("$SYS_BIN/psql" -X -q -v ON_ERROR_STOP=1 -At)
SRC=gdpr_regdump_src
DST=gdpr_regdump_dst
DUMP=$WORK/gdpr_registers_dump.dump

fail() { echo "FAIL: $*" >&2; exit 1; }
q() { local db=$1; shift; "${PSQL[@]}" -d "$db" -c "$*"; }

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $SRC" -c "DROP DATABASE IF EXISTS $DST"
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $SRC TEMPLATE template0"

("${PSQL[@]}" -d $SRC <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION gdpr_crm CASCADE;
-- a table created first, so the subject table's OID differs after restore
CREATE TABLE public.filler (id int);
CREATE SCHEMA shop;
CREATE TABLE shop.klant (klant_id int PRIMARY KEY, naam text, email text);
CREATE TABLE shop.bestelling (id int PRIMARY KEY, klant_id int REFERENCES shop.klant, totaal numeric);
SELECT gdpr.define_purpose('levering', 'contract', NULL, 'leveren');
SELECT gdpr.define_purpose('nieuwsbrief', 'consent', '2 years', 'nieuwsbrief', '2 years');
SECURITY LABEL FOR gdpr ON TABLE shop.klant IS 'SUBJECT KEY (klant_id)';
SECURITY LABEL FOR gdpr ON COLUMN shop.klant.naam IS 'PURPOSE levering CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN shop.klant.email IS 'PURPOSE levering, nieuwsbrief CATEGORY contact.email';
INSERT INTO shop.klant SELECT g, 'klant ' || g, 'k' || g || '@example.nl' FROM generate_series(1, 20) g;
INSERT INTO shop.bestelling SELECT g, 1 + g % 7, g FROM generate_series(1, 30) g;
SELECT gdpr.request('shop.klant', 3, 'access', '2026-01-31 10:00+01');
SELECT gdpr.request('shop.klant', 4, 'erasure', now() - interval '3 days');
SELECT gdpr.extend_request(2, 'many requests this month');
SELECT gdpr.request('shop.klant', 5, 'portability', now() - interval '1 day');
SELECT gdpr.complete_request(3, 'sent');
SELECT gdpr.register_processor('Host B.V.', 'NL', '2024-01-01', NULL, '{levering}', 'dpo@host.example');
SELECT gdpr.register_processor('Mail Inc.', 'US', '2024-01-01', '2030-01-01', '{nieuwsbrief}', NULL, 'SCC 2021/914');
SELECT gdpr.report_breach('lek', '2026-02-01 08:00+00', '{shop.klant,shop.bestelling}', '{contact.email}');
SELECT gdpr.notify_breach(1, '2026-02-02 08:00+00');
SELECT gdpr.report_breach('nog een lek', now() - interval '1 hour');
SQL
) >/dev/null

snapshot() { # db
	"${PSQL[@]}" -d "$1" <<'SQL'
SET TimeZone = 'UTC';
SELECT 'request ' || concat_ws('|', id, subject, subject_ref, kind, received_at, due_at, completed_at IS NOT NULL,
                               overdue, extended, extension_reason, note) FROM gdpr.requests ORDER BY id;
SELECT 'ref ' || (subject_ref = gdpr.subject_ref('shop.klant', 3)) FROM gdpr.requests WHERE id = 1;
SELECT 'processor ' || concat_ws('|', name, country, agreement_signed, agreement_expires, purposes, contact,
                                 agreement_valid, transfer_safeguard) FROM gdpr.processors ORDER BY name;
SELECT 'breach ' || concat_ws('|', id, description, discovered_at, notify_by, notified_at, overdue,
                              affected_subjects, relations, categories) FROM gdpr.breaches ORDER BY id;
SELECT 'register ' || concat_ws('|', purpose, recipients, third_countries, subject_categories)
  FROM gdpr.processing_register ORDER BY purpose;
SQL
}

before=$(snapshot $SRC)
echo "--- source"; echo "$before"
[ "$(echo "$before" | grep -c '^request ')" = 3 ] || fail "expected 3 requests in the source"
[ "$(echo "$before" | grep -c '^breach ')" = 2 ] || fail "expected 2 breaches in the source"

"$SYS_BIN/pg_dump" -Fc -f "$DUMP" $SRC
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DST TEMPLATE template0"
"$SYS_BIN/pg_restore" --exit-on-error -d $DST "$DUMP"

after=$(snapshot $DST)
echo "--- restored"; echo "$after"
if [ "$before" != "$after" ]; then
	diff <(echo "$before") <(echo "$after") || true
	fail "restored registers differ from the source"
fi
[ "$(q $SRC "SELECT 'shop.klant'::regclass::oid")" != "$(q $DST "SELECT 'shop.klant'::regclass::oid")" ] ||
	echo "note: shop.klant has the same OID in both databases"

# the sequences continue
[ "$(q $DST "SELECT gdpr.request('shop.klant', 6, 'objection')")" = 4 ] || fail "request id after restore is not 4"
[ "$(q $DST "SELECT gdpr.report_breach('derde', now())")" = 3 ] || fail "breach id after restore is not 3"
# and the open requests can still be handled
q $DST "SELECT gdpr.complete_request(2, 'erased')" >/dev/null
[ "$(q $DST "SELECT count(*) FROM gdpr.requests WHERE completed_at IS NULL")" = 2 ] || fail "open requests after restore"

"${PSQL[@]}" -d postgres -c "DROP DATABASE $SRC" -c "DROP DATABASE $DST"
rm -f "$DUMP"
echo "registers dump/restore ok"
