#!/usr/bin/env bash
# Dump/restore: a database with purposes, tags, audit entries and its secret,
# dumped with pg_dump -Fc and restored into a fresh database, keeps all of
# them; subject_refs stay the same and verify_audit() is ok.
# Environment (from scripts/harness.sh): SYS_BIN PGHOST PGPORT PGUSER WORK.
set -euo pipefail

PSQL=("$SYS_BIN/psql" -X -q -v ON_ERROR_STOP=1 -At)
SRC=gdpr_dump_src
DST=gdpr_dump_dst
DUMP=$WORK/gdpr_dump_restore.dump

fail() { echo "FAIL: $*" >&2; exit 1; }
q() { local db=$1; shift; "${PSQL[@]}" -d "$db" -c "$*"; }

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $SRC" -c "DROP DATABASE IF EXISTS $DST"
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $SRC TEMPLATE template0"

("${PSQL[@]}" -d $SRC <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION gdpr_crm CASCADE;
CREATE SCHEMA shop;
CREATE TABLE shop.customer (id int PRIMARY KEY, name text, email text, last_active date);
CREATE TABLE shop.orders (id int PRIMARY KEY, customer_id int REFERENCES shop.customer, total numeric);
INSERT INTO shop.customer SELECT g, 'name ' || g, 'c' || g || '@example.nl', date '2024-01-01' + g
  FROM generate_series(1, 50) g;
INSERT INTO shop.orders SELECT g, 1 + g % 50, g * 1.5 FROM generate_series(1, 200) g;
-- purposes and tags, when those capabilities are installed
DO $$
BEGIN
    IF to_regprocedure('gdpr.define_purpose(text,text,interval,text,interval)') IS NOT NULL THEN
        PERFORM gdpr.define_purpose('levering', 'contract', NULL, 'deliveries');
        PERFORM gdpr.define_purpose('nieuwsbrief', 'consent', interval '2 years', 'newsletter', interval '2 years');
    END IF;
    IF to_regprocedure('gdpr.register_subject_table(regclass,name)') IS NOT NULL THEN
        PERFORM gdpr.register_subject_table('shop.customer', 'id');
        PERFORM gdpr.tag_column('shop.customer', 'name', ARRAY['levering'], 'name');
        PERFORM gdpr.tag_column('shop.customer', 'email', ARRAY['levering', 'nieuwsbrief'], 'contact.email');
    END IF;
END;
$$;
-- audit entries of every shape: refs, relations, details with unicode and numbers
SELECT gdpr._audit('erase', gdpr.subject_ref('shop.customer', g), 'shop.customer',
                   jsonb_build_object('rows', g, 'reason', 'verzoek van klant é ✓', 'ratio', g / 7.0))
  FROM generate_series(1, 20) g;
SELECT gdpr._audit('export', NULL, NULL, NULL);
BEGIN;
CREATE TABLE shop.gone (id int);
SELECT gdpr._audit('view.create', NULL, 'shop.gone', '{"n": 1}');
COMMIT;
SELECT gdpr._audit('view.drop', NULL, 'shop.gone', '{"n": 2}');
DROP TABLE shop.gone;
SELECT gdpr._audit('expire', NULL, 'shop.orders', '{"nested": {"a": [1, 2, null]}}');
SQL
) >/dev/null

# What must survive, as one text each.
snapshot() { # db
	"${PSQL[@]}" -d "$1" <<'SQL'
SET TimeZone = 'UTC';
SELECT 'secret ' || encode(secret, 'hex') FROM gdpr.secret;
SELECT 'ref ' || gdpr.subject_ref('shop.customer', 7) || ' ' || gdpr.subject_ref('shop.customer', '42');
SELECT 'audit ' || count(*) || ' ' || md5(string_agg(concat_ws('|', id, at, actor, action, subject_ref,
           relation_name, details, encode(prev_hash, 'hex'), encode(hash, 'hex')), E'\n' ORDER BY id))
  FROM gdpr.audit_log;
SELECT 'relations ' || string_agg(coalesce(c.oid::regclass::text, '-'), ',' ORDER BY id)
  FROM gdpr.audit_log a LEFT JOIN pg_class c ON c.oid = a.relation;
SELECT 'verify ' || ok || ' ' || checked FROM gdpr.verify_audit();
SELECT 'purposes ' || coalesce(string_agg(p::text, ';' ORDER BY p::text), '')
  FROM gdpr.purposes p WHERE to_regclass('gdpr.purposes') IS NOT NULL;
SELECT 'tags ' || coalesce(string_agg(t::text, ';' ORDER BY t::text), '')
  FROM gdpr.column_tags t WHERE to_regclass('gdpr.column_tags') IS NOT NULL;
SELECT 'customers ' || count(*) FROM shop.customer;
SQL
}

# gdpr.purposes / gdpr.column_tags may not exist yet (other capabilities):
# drop those lines from the snapshot when they don't.
snap() {
	local db=$1 out
	if ! "${PSQL[@]}" -d "$db" -c "SELECT 1 FROM gdpr.purposes LIMIT 0" >/dev/null 2>&1 ||
		! "${PSQL[@]}" -d "$db" -c "SELECT 1 FROM gdpr.column_tags LIMIT 0" >/dev/null 2>&1; then
		out=$(snapshot_basic "$db")
	else
		out=$(snapshot "$db")
	fi
	printf '%s\n' "$out"
}
snapshot_basic() {
	"${PSQL[@]}" -d "$1" <<'SQL'
SET TimeZone = 'UTC';
SELECT 'secret ' || encode(secret, 'hex') FROM gdpr.secret;
SELECT 'ref ' || gdpr.subject_ref('shop.customer', 7) || ' ' || gdpr.subject_ref('shop.customer', '42');
SELECT 'audit ' || count(*) || ' ' || md5(string_agg(concat_ws('|', id, at, actor, action, subject_ref,
           relation_name, details, encode(prev_hash, 'hex'), encode(hash, 'hex')), E'\n' ORDER BY id))
  FROM gdpr.audit_log;
SELECT 'relations ' || string_agg(coalesce(c.oid::regclass::text, '-'), ',' ORDER BY id)
  FROM gdpr.audit_log a LEFT JOIN pg_class c ON c.oid = a.relation;
SELECT 'verify ' || ok || ' ' || checked FROM gdpr.verify_audit();
SELECT 'customers ' || count(*) FROM shop.customer;
SQL
}

before=$(snap $SRC)
echo "--- source"; echo "$before"
grep -q '^verify true ' <<<"$before" || fail "source chain not ok"

"$SYS_BIN/pg_dump" -Fc -f "$DUMP" $SRC
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DST TEMPLATE template0"
"$SYS_BIN/pg_restore" --exit-on-error -d $DST "$DUMP"

after=$(snap $DST)
echo "--- restored"; echo "$after"

# The restored database made a fresh secret at CREATE EXTENSION: the dumped one must have won.
[ "$(q $DST "SELECT count(*) FROM gdpr.secret")" = 1 ] || fail "not exactly one secret after restore"
if [ "$before" != "$after" ]; then
	diff <(echo "$before") <(echo "$after") || true
	fail "restored database differs from the source"
fi
# the entry whose relation was dropped restored with relation NULL (not a stray OID)
[ "$(q $DST "SELECT count(*) FROM gdpr.audit_log WHERE relation_name = 'shop.gone' AND relation IS NULL")" = 2 ] ||
	fail "dropped relation's entries should have relation NULL"
# OIDs really differ (otherwise the test proves little)
[ "$(q $SRC "SELECT 'shop.customer'::regclass::oid")" != "$(q $DST "SELECT 'shop.customer'::regclass::oid")" ] ||
	echo "note: shop.customer has the same OID in both databases"

# the chain continues in the restored database
q $DST "SELECT gdpr._audit('export', gdpr.subject_ref('shop.customer', 7), 'shop.customer', NULL)" >/dev/null
res=$(q $DST "SELECT ok, checked = (SELECT count(*) FROM gdpr.audit_log), (SELECT max(id) = count(*) FROM gdpr.audit_log) FROM gdpr.verify_audit()")
[ "$res" = "t|t|t" ] || fail "chain after a new append in the restored database: $res"

"${PSQL[@]}" -d postgres -c "DROP DATABASE $SRC" -c "DROP DATABASE $DST"
rm -f "$DUMP"
echo "dump/restore ok"
