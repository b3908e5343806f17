#!/usr/bin/env bash
# The update path (`make update-test`, and part of `make test`).
#
# For every version gdpr_crm can be installed at (pg_available_extension_versions)
# that has an update path to the default version: install it, fill it with
# purposes, tags, consents and audit entries, ALTER EXTENSION gdpr_crm UPDATE,
# and compare the result with a fresh CREATE EXTENSION of the default version:
# the same objects with the same privilege map, and the data, the audit chain
# (verify_audit) and subject_refs intact.  With one version only (1.0 today)
# it checks that ALTER EXTENSION ... UPDATE is a clean no-op.
#
# Standalone (`make update-test`) it builds and starts a private cluster.
set -euo pipefail

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SYS_BIN=${SYS_BIN:-/usr/lib/postgresql/15/bin}
STANDALONE=0
if [ -z "${WORK:-}" ]; then
	STANDALONE=1
	export GDPR_PRIVATE=${GDPR_PRIVATE:-1} GDPR_PORT=${GDPR_PORT:-55497}
	export GDPR_WORKDIR=${GDPR_WORKDIR:-$ROOT/.tmp-update}
	bash "$ROOT/scripts/harness.sh" build
	bash "$ROOT/scripts/harness.sh" start
	WORK=$GDPR_WORKDIR
	export PGHOST=$WORK PGPORT=$GDPR_PORT PGUSER=postgres
fi
PSQL=("$SYS_BIN/psql" -X -q -v ON_ERROR_STOP=1 -At)
fail() { echo "FAIL: $*" >&2; exit 1; }
q() { local db=$1; shift; "${PSQL[@]}" -d "$db" -c "$*"; }

default=$(q postgres "SELECT default_version FROM pg_available_extensions WHERE name = 'gdpr_crm'")
[ -n "$default" ] || fail "gdpr_crm is not installed"
echo "default version $default; available: $(q postgres "SELECT string_agg(version, ', ' ORDER BY version) FROM pg_available_extension_versions WHERE name = 'gdpr_crm'")"

fill() { # db
	"${PSQL[@]}" -d "$1" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE SCHEMA shop;
CREATE TABLE shop.klant (id int PRIMARY KEY, naam text, email text);
INSERT INTO shop.klant SELECT g, 'klant ' || g, 'k' || g || '@example.nl' FROM generate_series(1, 10) g;
SELECT gdpr.define_purpose('up_levering', 'contract');
SELECT gdpr.define_purpose('up_nieuws', 'consent', NULL, NULL, '1 year');
SELECT gdpr.register_subject_table('shop.klant', 'id');
SELECT gdpr.tag_column('shop.klant', 'naam', ARRAY['up_levering'], 'name');
SELECT gdpr.tag_column('shop.klant', 'email', ARRAY['up_nieuws'], 'contact.email');
SELECT gdpr.grant_consent('shop.klant', 3, 'up_nieuws', 'checkbox');
SELECT * FROM gdpr.erase('shop.klant', 5);
SQL
}
# the objects of the extension with their privileges and definitions
object_map() { # db
	q "$1" "SELECT string_agg(x, E'\n' ORDER BY x) FROM (
	  SELECT pg_describe_object(classid, objid, objsubid) || ' ' ||
	         coalesce((SELECT coalesce(p.proacl::text, 'default') || ' ' || md5(pg_get_functiondef(p.oid))
	                     FROM pg_proc p WHERE classid = 'pg_proc'::regclass AND p.oid = objid AND p.prokind <> 'a'),
	                  (SELECT coalesce(c.relacl::text, 'default') FROM pg_class c
	                    WHERE classid = 'pg_class'::regclass AND c.oid = objid), '') AS x
	    FROM pg_depend
	   WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	     AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'gdpr_crm')) s"
}
state() { # db
	q "$1" "SELECT (SELECT string_agg(name || '/' || legal_basis, ',' ORDER BY name) FROM gdpr.purposes) || ' | ' ||
	               (SELECT string_agg(column_name || '=' || array_to_string(purposes, ','), ',' ORDER BY column_name) FROM gdpr.column_tags) || ' | ' ||
	               (SELECT count(*) FROM shop.klant) || ' | ' || gdpr.subject_ref('shop.klant', 3) || ' | ' ||
	               (SELECT ok::text FROM gdpr.verify_audit()) || ' | ' || gdpr.has_consent('shop.klant', 3, 'up_nieuws')::text"
}

ref=gdpr_update_ref
q postgres "DROP DATABASE IF EXISTS $ref" >/dev/null 2>&1
q postgres "CREATE DATABASE $ref TEMPLATE template0"
q $ref "SET client_min_messages = warning; CREATE EXTENSION gdpr_crm CASCADE"
object_map $ref >"$WORK/update_ref.map"

tested=0
for from in $(q postgres "SELECT version FROM pg_available_extension_versions WHERE name = 'gdpr_crm' ORDER BY version"); do
	db=gdpr_update_${from//./_}
	q postgres "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
	q postgres "CREATE DATABASE $db TEMPLATE template0"
	q $db "SET client_min_messages = warning; CREATE EXTENSION gdpr_crm VERSION '$from' CASCADE"
	fill $db
	before=$(state $db)
	q $db "ALTER EXTENSION gdpr_crm UPDATE" 2>&1 | grep -v 'already installed' || true
	[ "$(q $db "SELECT extversion FROM pg_extension WHERE extname = 'gdpr_crm'")" = "$default" ] ||
		fail "$from: ALTER EXTENSION UPDATE did not reach $default"
	after=$(state $db)
	[ "$before" = "$after" ] || fail "$from -> $default: data changed: '$before' became '$after'"
	object_map $db >"$WORK/update_$from.map"
	if ! diff -u "$WORK/update_ref.map" "$WORK/update_$from.map"; then
		fail "$from -> $default: the updated extension differs from a fresh $default (diff above)"
	fi
	echo "ok - $from -> $default: same objects and privileges as a fresh install; data, audit chain, subject_refs, consent intact"
	tested=$((tested + 1))
	q postgres "DROP DATABASE $db"
done
q postgres "DROP DATABASE $ref"
[ "$tested" -gt 0 ] || fail "no version tested"
[ "$STANDALONE" = 1 ] && bash "$ROOT/scripts/harness.sh" stop
echo "update path: $tested version(s) checked"
