#!/usr/bin/env bash
# DROP EXTENSION leaves nothing behind, CREATE EXTENSION works again, and the
# demo database survives a pg_dump/pg_restore round trip (issue 8).
#
# Decision (docs/SECURITY.md): the security labels of provider gdpr on the
# user's own tables are the user's statements about their data, like
# COMMENTs; DROP EXTENSION keeps them (the extension's event triggers are
# gone by then, and PostgreSQL drops a label only with its object).  They are
# valid again as soon as the extension and the purposes they name are back.
# Everything of the extension itself -- schema gdpr, its tables, functions,
# types, event triggers, dependencies -- must be gone.
#
# Environment (from scripts/harness.sh): SYS_BIN PGHOST PGPORT PGUSER WORK ROOT DATASETS.
set -euo pipefail

PSQL=("$SYS_BIN/psql" -X -q -v ON_ERROR_STOP=1 -At)
DB=gdpr_drop_ext
fail() { echo "FAIL: $*" >&2; exit 1; }
q() { local db=$1; shift; "${PSQL[@]}" -d "$db" -c "$*"; }
expect() { # what got want
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
	echo "ok - $1"
}

# ------------------------------------------------------------------ part 1
q postgres "DROP DATABASE IF EXISTS $DB"
q postgres "CREATE DATABASE $DB TEMPLATE template0"
"${PSQL[@]}" -d $DB >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION gdpr_crm CASCADE;
CREATE SCHEMA shop;
CREATE TABLE shop.klant (id int PRIMARY KEY, naam text, email text, gezien date);
CREATE TABLE shop.bestelling (id int PRIMARY KEY, klant_id int REFERENCES shop.klant, totaal numeric);
INSERT INTO shop.klant SELECT g, 'naam ' || g, 'k' || g || '@example.nl', date '2024-01-01' + g FROM generate_series(1, 20) g;
INSERT INTO shop.bestelling SELECT g, 1 + g % 20, g FROM generate_series(1, 40) g;
SELECT gdpr.define_purpose('levering', 'contract');
SELECT gdpr.define_purpose('nieuwsbrief', 'consent', '2 years', NULL, '2 years');
SELECT gdpr.register_subject_table('shop.klant', 'id');
SELECT gdpr.set_retention_column('shop.klant', 'gezien');
SELECT gdpr.tag_column('shop.klant', 'naam', ARRAY['levering'], 'name');
SELECT gdpr.tag_column('shop.klant', 'email', ARRAY['nieuwsbrief'], 'contact.email');
SELECT gdpr.grant_consent('shop.klant', g, 'nieuwsbrief', 'checkbox') FROM generate_series(1, 5) g;
SELECT gdpr.create_purpose_view('shop.klant', 'nieuwsbrief');
SELECT * FROM gdpr.erase('shop.klant', 7);
SQL
labels_before=$(q $DB "SELECT count(*) FROM pg_seclabel WHERE provider = 'gdpr'")
[ "$labels_before" -ge 3 ] || fail "expected labels on shop.klant, found $labels_before"

# a purpose view in the user's schema depends on the extension: a plain DROP
# is refused (and names it); CASCADE takes the view along
if q $DB "DROP EXTENSION gdpr_crm" 2>"$WORK/drop_ext.err"; then
	fail "DROP EXTENSION succeeded although shop.klant_nieuwsbrief depends on it"
fi
grep -q 'klant_nieuwsbrief' "$WORK/drop_ext.err" || fail "the refusal does not name the purpose view: $(cat "$WORK/drop_ext.err")"
echo "ok - plain DROP EXTENSION refused while a purpose view depends on it"
q $DB "SET client_min_messages = warning; DROP EXTENSION gdpr_crm CASCADE"

# PostgreSQL creates the control file's schema (schema = gdpr) before the
# script runs and never makes it a member, so the empty schema stays (an
# extension cannot add its own schema); it must be empty
expect "schema gdpr is empty" \
	"$(q $DB "SELECT count(*) FROM pg_depend d JOIN pg_namespace n ON d.refobjid = n.oid AND d.refclassid = 'pg_namespace'::regclass WHERE n.nspname = 'gdpr'")" 0
expect "no function of the library is left" \
	"$(q $DB "SELECT count(*) FROM pg_proc WHERE probin LIKE '%gdpr_crm%' OR pronamespace::regnamespace::text = 'gdpr'")" 0
expect "no relation of schema gdpr is left" \
	"$(q $DB "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'gdpr'")" 0
expect "no type of schema gdpr is left" \
	"$(q $DB "SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'gdpr'")" 0
expect "no event trigger is left" "$(q $DB "SELECT count(*) FROM pg_event_trigger")" 0
expect "no extension dependency is left" \
	"$(q $DB "SELECT count(*) FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND refobjid NOT IN (SELECT oid FROM pg_extension)")" 0
expect "no trigger calls a dropped function" \
	"$(q $DB "SELECT count(*) FROM pg_trigger t WHERE NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.oid = t.tgfoid)")" 0
expect "the purpose view went with CASCADE" "$(q $DB "SELECT count(*) FROM pg_class WHERE relname = 'klant_nieuwsbrief'")" 0
expect "the user's data is untouched" "$(q $DB "SELECT count(*) FROM shop.klant")" 19
expect "pgcrypto, the required extension, stays" "$(q $DB "SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'")" 1
expect "the user's labels are kept (documented decision)" \
	"$(q $DB "SELECT count(*) FROM pg_seclabel WHERE provider = 'gdpr'")" "$labels_before"
# statements still work without the extension (the provider hook must not
# fail on a database without schema gdpr)
q $DB "INSERT INTO shop.klant VALUES (100, 'na', 'na@example.nl', current_date); ALTER TABLE shop.klant ADD COLUMN x int; ALTER TABLE shop.klant DROP COLUMN x"
echo "ok - DML and DDL on labelled tables work without the extension"

# ... and again
"${PSQL[@]}" -d $DB >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION gdpr_crm;
SELECT gdpr.define_purpose('levering', 'contract');
SELECT gdpr.define_purpose('nieuwsbrief', 'consent', '2 years', NULL, '2 years');
SQL
expect "CREATE EXTENSION again: the kept labels are valid tags again" \
	"$(q $DB "SELECT string_agg(column_name || ':' || array_to_string(purposes, ','), ' ' ORDER BY column_name) FROM gdpr.column_tags WHERE relation = 'shop.klant'::regclass")" \
	"email:nieuwsbrief naam:levering"
expect "the new audit log starts a fresh, valid chain" "$(q $DB "SELECT ok FROM gdpr.verify_audit()")" t
expect "consent works after re-creation" \
	"$(q $DB "SELECT gdpr.grant_consent('shop.klant', 1, 'nieuwsbrief', 'checkbox') > 0 AND gdpr.has_consent('shop.klant', 1, 'nieuwsbrief')")" t
q $DB "SET client_min_messages = warning; DROP EXTENSION gdpr_crm CASCADE"
q $DB "DROP SCHEMA gdpr"
echo "ok - DROP SCHEMA gdpr after DROP EXTENSION: nothing was left in it"
q postgres "DROP DATABASE $DB"

# ------------------------------------------------------------------ part 2
# pg_dump / pg_restore of the demo database
SRC=gdpr_demo_src
DST=gdpr_demo_dst
DUMP=$WORK/gdpr_demo.dump
q postgres "DROP DATABASE IF EXISTS $SRC" >/dev/null
q postgres "DROP DATABASE IF EXISTS $DST" >/dev/null
q postgres "CREATE DATABASE $SRC TEMPLATE template0"
for f in "$ROOT"/demo/*.sql; do
	"$SYS_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d $SRC -v datasets="$DATASETS" -f "$f" >/dev/null 2>"$WORK/demo_load.err" ||
		fail "demo $(basename "$f") failed: $(tail -5 "$WORK/demo_load.err")"
done
echo "ok - demo loaded ($(ls "$ROOT"/demo/*.sql | wc -l) files)"

snapshot() { # db
	"${PSQL[@]}" -d "$1" <<'SQL'
SET TimeZone = 'UTC';
SELECT 'purposes', string_agg(format('%s/%s/%s/%s', name, legal_basis, retention, consent_valid_for), ' ' ORDER BY name) FROM gdpr.purposes;
SELECT 'tags', string_agg(format('%s.%s=%s:%s', relation, column_name, purposes, category), ' ' ORDER BY relation::text, column_name) FROM gdpr.column_tags;
SELECT 'subjects', string_agg(format('%s(%s)%s', relation, key_column, retain_from), ' ' ORDER BY relation::text) FROM gdpr.subject_tables;
SELECT 'labels', count(*) FROM pg_seclabel WHERE provider = 'gdpr';
SELECT 'views', string_agg(format('%s:%s:%s', view, relation, purpose), ' ' ORDER BY view::text) FROM gdpr.purpose_views;
SELECT 'consent_events', count(*), string_agg(DISTINCT action, ',') FROM gdpr.consent_events;
SELECT 'consent_status', count(*) FROM gdpr.consent_status;
SELECT 'audit', count(*), max(id) FROM gdpr.audit_log;
SELECT 'audit_ok', ok, checked FROM gdpr.verify_audit();
SELECT 'requests', count(*) FROM gdpr.requests;
SELECT 'processors', string_agg(name, ',' ORDER BY name) FROM gdpr.processors;
SELECT 'breaches', count(*) FROM gdpr.breaches;
SELECT 'rows', c.oid::regclass::text, (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', c.oid::regclass), false, true, '')))[1]::text
  FROM pg_class c WHERE c.relnamespace = 'winkel'::regnamespace AND c.relkind IN ('r', 'v') ORDER BY 2;
SELECT 'subject_ref', gdpr.subject_ref('winkel.klanten', 1);
SQL
}
snapshot $SRC >"$WORK/demo_src.snap"
"$SYS_BIN/pg_dump" -Fc -d $SRC -f "$DUMP"
q postgres "CREATE DATABASE $DST TEMPLATE template0"
"$SYS_BIN/pg_restore" --exit-on-error -d $DST "$DUMP" 2>"$WORK/demo_restore.err" ||
	fail "pg_restore failed: $(tail -5 "$WORK/demo_restore.err")"
snapshot $DST >"$WORK/demo_dst.snap"
if ! diff -u "$WORK/demo_src.snap" "$WORK/demo_dst.snap"; then
	fail "the restored demo database differs (diff above)"
fi
grep -q '^audit_ok|t|' "$WORK/demo_dst.snap" || fail "verify_audit() not ok after restore"
grep -q '^views|.' "$WORK/demo_dst.snap" || echo "note: the demo has no purpose views yet"
echo "ok - demo database: pg_dump/pg_restore keeps purposes, tags, views, consents, audit chain, registers, rows and subject_refs ($(wc -l <"$WORK/demo_src.snap") lines compared)"
q postgres "DROP DATABASE $SRC"
q postgres "DROP DATABASE $DST"
