#!/usr/bin/env bash
# The label provider without shared_preload_libraries, and labels through
# pg_dump / restore.  Starts a second, private cluster (unix socket in its own
# directory) without gdpr_crm preloaded:
#  1. a fresh session that has not loaded the library cannot use the provider
#     (the error says so); after LOAD 'gdpr_crm' it can, and the tag cache works;
#  2. with session_preload_libraries it works without LOAD;
#  3. pg_dump of a tagged database restores into a fresh one with the same
#     purposes and labels, although the dump brings the labels back before
#     the purposes (config table data) and before the BELONGS TO target.
set -euo pipefail

PORT2=$((PGPORT + 1))
DIR=$WORK/nopreload_labels
as_pg() { runuser -u postgres -- "$@"; }
q() { "$SYS_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT2" -U postgres "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

cleanup() {
	as_pg "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$DIR"
}
trap cleanup EXIT

rm -rf "$DIR"
mkdir -p "$DIR"
chown postgres: "$DIR"
as_pg "$BIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
cat >>"$DIR/data/postgresql.conf" <<CONF
listen_addresses = ''
port = $PORT2
unix_socket_directories = '$DIR'
fsync = off
CONF
as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >/dev/null

spl=$(q -d postgres -At -c "SHOW shared_preload_libraries")
[[ $spl != *gdpr_crm* ]] || fail "gdpr_crm is preloaded"
q -d postgres -c "CREATE DATABASE src"
q -d src <<'SQL'
CREATE EXTENSION gdpr_crm CASCADE;
SELECT gdpr.define_purpose('levering', 'contract');
SELECT gdpr.define_purpose('nieuwsbrief', 'consent', '2 years', 'mail', '2 years');
CREATE TABLE zz_klant (id int PRIMARY KEY, email text, naam text, actief date);
CREATE TABLE aa_bezoek (id int, klant int, ip inet, op timestamptz);
INSERT INTO zz_klant VALUES (1, 'a@example.nl', 'An', '2024-01-01');
SQL

# 1. a new session has not loaded the library: the provider is unknown
out=$(q -d src -c "SECURITY LABEL FOR gdpr ON COLUMN zz_klant.email IS 'PURPOSE levering'" 2>&1 || true)
echo "without LOAD: $out"
grep -q 'security label provider "gdpr" is not loaded' <<<"$out" || fail "expected 'not loaded' without LOAD"

q -d src <<'SQL'
LOAD 'gdpr_crm';
SECURITY LABEL FOR gdpr ON TABLE zz_klant IS 'SUBJECT KEY (id) RETAIN FROM actief';
SECURITY LABEL FOR gdpr ON COLUMN zz_klant.email IS 'PURPOSE levering, nieuwsbrief CATEGORY contact.email';
SECURITY LABEL FOR gdpr ON COLUMN zz_klant.naam IS 'PURPOSE levering CATEGORY name';
SECURITY LABEL FOR gdpr ON TABLE aa_bezoek IS 'BELONGS TO zz_klant (klant) RETAIN FROM op';
SQL
# bad labels are still checked after LOAD
out=$(q -d src -c "LOAD 'gdpr_crm'" -c "SECURITY LABEL FOR gdpr ON COLUMN zz_klant.naam IS 'PURPOSE marketing'" 2>&1 || true)
grep -q 'purpose "marketing" does not exist' <<<"$out" || fail "unknown purpose not refused after LOAD: $out"
# the tag cache in a LOADed session
n=$(q -d src -At -c "LOAD 'gdpr_crm'" -c "SELECT count(*) FROM gdpr._table_tags('zz_klant')")
[ "$n" = 2 ] || fail "tag cache after LOAD: $n columns, expected 2"

# 2. session_preload_libraries is enough
q -d postgres -c "ALTER DATABASE src SET session_preload_libraries = 'gdpr_crm'"
q -d src -c "SECURITY LABEL FOR gdpr ON COLUMN aa_bezoek.ip IS 'PURPOSE levering CATEGORY identifier.online'"
q -d postgres -c "ALTER DATABASE src RESET session_preload_libraries"

before=$(q -d src -At -c "SELECT relation, column_name, purposes, category FROM gdpr.column_tags ORDER BY relation::text, column_name" \
	-c "SELECT * FROM gdpr.table_labels ORDER BY relation::text" -c "SELECT name, legal_basis, retention FROM gdpr.purposes ORDER BY 1")
echo "before dump:"; echo "$before"
[ "$(echo "$before" | grep -c '|')" -ge 7 ] || fail "unexpected label state before dump"

# 3. dump and restore into a fresh database (plain SQL, as pg_dump writes it)
"$SYS_BIN/pg_dump" -h "$DIR" -p "$PORT2" -U postgres -d src -f "$DIR/src.sql"
grep -q "check_function_bodies = false" "$DIR/src.sql" || fail "dump does not turn check_function_bodies off"
lab=$(grep -n "SECURITY LABEL FOR gdpr ON COLUMN public.zz_klant.email" "$DIR/src.sql" | cut -d: -f1)
dat=$(grep -n "^COPY gdpr.purpose " "$DIR/src.sql" | cut -d: -f1)
echo "label at line $lab, purpose data at line $dat"
[ -n "$lab" ] && [ -n "$dat" ] && [ "$lab" -lt "$dat" ] || fail "expected the dump to restore labels before gdpr.purpose data"
q -d postgres -c "CREATE DATABASE dst"
q -d dst -f "$DIR/src.sql" >/dev/null
after=$(q -d dst -At -c "SELECT relation, column_name, purposes, category FROM gdpr.column_tags ORDER BY relation::text, column_name" \
	-c "SELECT * FROM gdpr.table_labels ORDER BY relation::text" -c "SELECT name, legal_basis, retention FROM gdpr.purposes ORDER BY 1")
echo "after restore:"; echo "$after"
[ "$before" = "$after" ] || fail "labels or purposes differ after restore"
# and the restored database still enforces the rules
out=$(q -d dst -c "LOAD 'gdpr_crm'" -c "SECURITY LABEL FOR gdpr ON TABLE zz_klant IS 'RETAIN FROM email'" 2>&1 || true)
grep -q 'has type text' <<<"$out" || fail "restored database does not check labels: $out"
out=$(q -d dst -c "SELECT gdpr.drop_purpose('nieuwsbrief')" 2>&1 || true)
grep -q 'still in use' <<<"$out" || fail "restored purpose in use could be dropped: $out"

# the audit chain (with the tag.set / purpose.define entries) survived intact
ok=$(q -d dst -At -c "SELECT ok FROM gdpr.verify_audit()")
[ "$ok" = t ] || fail "verify_audit() after restore: $ok"
n=$(q -d dst -At -c "SELECT count(*) FROM gdpr.audit_log WHERE action IN ('tag.set', 'purpose.define')")
[ "$n" = 7 ] || fail "expected 7 purpose/tag audit entries after restore, found $n"

echo "labels_nopreload: ok"
