#!/usr/bin/env bash
# Bench: gdpr.discover's detectors in C against the same detection written
# with PostgreSQL regular expressions in SQL (regex + SQL arithmetic for the
# check digits: IBAN mod 97, BSN 11-test, Luhn), over the same >= 100 MB of
# text values.  Both run as one aggregate scan of the same table, hot in
# cache, without parallel workers; the ratio is SQL time / C time.
#
# Environment: PGHOST PGPORT PGUSER (the cluster), SYS_BIN, BENCH_DB
#   DISCOVER_BENCH_MB   megabytes of text values (default 100)
# Prints: ratio discover_detectors_vs_sql_regex: <x> (target >= 10)
set -euo pipefail
SYS_BIN=${SYS_BIN:-/usr/lib/postgresql/15/bin}
DB=${BENCH_DB:-gdpr_bench}
MB=${DISCOVER_BENCH_MB:-100}
PSQL=("$SYS_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB")

PGOPTIONS="-c bench.mb=$MB" "${PSQL[@]}" <<'SQL'
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench_discover CASCADE;
CREATE SCHEMA bench_discover;

-- helpers for the generator
CREATE FUNCTION bench_discover.iban_nl(acct bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT 'NL' || lpad((98 - ('10112310' || lpad(acct::text, 10, '0') || '232100')::numeric % 97)::text, 2, '0')
         || 'ABNA' || lpad(acct::text, 10, '0') $$;

-- a mix of values as found in real CRM tables: e-mail addresses, phones in
-- several formats, IBANs, BSNs, card numbers, IP addresses, postcodes,
-- names, free text (some with an e-mail or a phone inside), amounts, dates
CREATE TABLE bench_discover.vals (v text);
DO $$
DECLARE
    target bigint := current_setting('bench.mb')::bigint * 1024 * 1024;
    have bigint := 0;
    batch int := 200000;
    off int := 0;
    added bigint;
BEGIN
    WHILE have < target LOOP
        WITH ins AS (
        INSERT INTO bench_discover.vals
        SELECT CASE i % 20
            WHEN 0 THEN 'klant' || i || '.' || substr(md5(i::text), 1, 6) || '@example' || (i % 7) || '.nl'
            WHEN 1 THEN 'j.de.vries' || i || '@mail.example.com'
            WHEN 2 THEN '06-' || lpad((i::bigint * 7919 % 100000000)::text, 8, '0')
            WHEN 3 THEN '+31 20 ' || lpad((i * 31 % 10000000)::text, 7, '0')
            WHEN 4 THEN '(' || (100 + i % 900) || ') 555-' || lpad((i % 10000)::text, 4, '0')
            WHEN 5 THEN bench_discover.iban_nl(417164300 + i % 1000000)
            WHEN 6 THEN lpad((i::bigint * 104729 % 1000000000)::text, 9, '0')
            WHEN 7 THEN (ARRAY['4111 1111 1111 1111', '5555555555554444', '378282246310005', '4111111111111112'])[1 + i / 20 % 4]
            WHEN 8 THEN (i % 223 + 1) || '.' || (i % 256) || '.' || (i / 256 % 256) || '.' || (i % 254 + 1)
            WHEN 9 THEN '2001:db8:' || to_hex(i % 65536) || '::' || to_hex(i % 4096)
            WHEN 10 THEN (1000 + i % 9000) || ' ' || chr(65 + i % 26) || chr(65 + i / 26 % 26)
            WHEN 11 THEN 'Jan de Vries ' || i
            WHEN 12 THEN 'Graag bezorgen na 17:00, bel 06 ' || lpad((i * 13 % 100000000)::text, 8, '0') || ' bij geen gehoor'
            WHEN 13 THEN 'Vraag over bestelling ' || i || ': mail naar service' || i % 100 || '@winkel.example of bel terug'
            WHEN 14 THEN 'Het pakket is op ' || (DATE '2024-01-01' + i % 365) || ' bezorgd bij de buren op nummer ' || i % 200
            WHEN 15 THEN (i * 1.37)::numeric(12, 2)::text
            WHEN 16 THEN (DATE '2020-01-01' + i % 2000)::text
            WHEN 17 THEN 'Hoofdstraat ' || i % 300 || ', Utrecht'
            WHEN 18 THEN md5(i::text) || ' ' || md5((i + 1)::text)
            ELSE 'Lorem ipsum dolor sit amet, consectetur adipiscing elit ' || i
        END
        FROM generate_series(off + 1, off + batch) i
        RETURNING octet_length(v) AS n)
        SELECT sum(n) INTO added FROM ins;
        off := off + batch;
        have := have + added;
    END LOOP;
END $$;
VACUUM ANALYZE bench_discover.vals;
SQL

"${PSQL[@]}" <<'SQL'
SET client_min_messages = warning;
-- the SQL side: regular expressions, and SQL arithmetic for check digits;
-- cheap guards (strpos, length, translate) first, as a careful SQL author
-- would write it, so the regexes only run on candidates
CREATE FUNCTION bench_discover.digits(t text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT regexp_replace(t, '[^0-9]', '', 'g') $$;
CREATE FUNCTION bench_discover.luhn(d text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT sum(CASE WHEN (length(d) - i) % 2 = 1
                  THEN (2 * substr(d, i, 1)::int) % 10 + (2 * substr(d, i, 1)::int) / 10
                  ELSE substr(d, i, 1)::int END) % 10 = 0
    FROM generate_series(1, length(d)) i $$;
CREATE FUNCTION bench_discover.mod97(c text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT (SELECT string_agg(CASE WHEN ch BETWEEN 'A' AND 'Z' THEN (ascii(ch) - 55)::text ELSE ch END, '' ORDER BY n)
            FROM regexp_split_to_table(substr(c, 5) || substr(c, 1, 4), '') WITH ORDINALITY AS x(ch, n))::numeric % 97 = 1 $$;
CREATE FUNCTION bench_discover.iban_len(cc text) RETURNS int LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p > 0 THEN substr(s, p + 3, 2)::int END
    FROM (SELECT s, strpos(s, ' ' || cc) AS p
            FROM (SELECT ' AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DJ27 DK18 DO28 EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 LY25 MC27 MD24 ME22 MK19 MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 PL28 PS29 PT25 QA29 RO24 RS22 RU33 SA24 SC31 SD18 SE24 SI19 SK24 SM27 SO23 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20 YE30'::text AS s) a) b $$;
CREATE FUNCTION bench_discover.elfproef(d text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT d <> '000000000' AND (9 * substr(d, 1, 1)::int + 8 * substr(d, 2, 1)::int + 7 * substr(d, 3, 1)::int
         + 6 * substr(d, 4, 1)::int + 5 * substr(d, 5, 1)::int + 4 * substr(d, 6, 1)::int
         + 3 * substr(d, 7, 1)::int + 2 * substr(d, 8, 1)::int - substr(d, 9, 1)::int) % 11 = 0 $$;

CREATE VIEW bench_discover.sql_detect AS
SELECT ARRAY[
  count(v),
  count(*) FILTER (WHERE strpos(v, '@') > 0 AND v ~ '^[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,63}|xn--[A-Za-z0-9-]+)$'
                   AND length(v) <= 254 AND length(split_part(v, '@', 1)) <= 64),
  count(*) FILTER (WHERE translate(v, '0123456789 +-.()', '') = '' AND ((v ~ '^(\+|00)[1-9][0-9 ().-]{6,22}[0-9]$' AND length(bench_discover.digits(v)) BETWEEN 8 AND 17)
                      OR (v ~ '^\(?0[1-9][0-9]{0,3}\)?[ .-]?[0-9]([ .-]?[0-9]){4,9}$' AND length(bench_discover.digits(v)) = 10)
                      OR v ~ '^0(800|90[069])[ .-]?[0-9]([ .-]?[0-9]){3,6}$')),
  count(*) FILTER (WHERE translate(v, '0123456789 +-./()', '') = '' AND (v ~ '^0(800|90[069])[0-9]{4,7}$' OR v ~ '^\+?\(?[0-9]+\)?([ ./-]{1,3}\(?[0-9]+\)?)+$'
                   AND length(bench_discover.digits(v)) BETWEEN 7 AND 15
                   AND v !~ '^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}$'
                   AND v !~ '^[0-9]{1,2}[./-][0-9]{1,2}[./-]([0-9]{2}|[0-9]{4})$'
                   AND v !~ '^[0-9]{1,3}(\.[0-9]{3})+$' AND v !~ '^[0-9]+\.[0-9]+$'
                   AND v !~ '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$')),
  count(*) FILTER (WHERE length(v) BETWEEN 15 AND 42 AND v ~* '^[a-z]{2}[0-9]{2}( ?[a-z0-9]){11,30}$'
                   AND length(replace(v, ' ', '')) = bench_discover.iban_len(upper(left(v, 2)))
                   AND bench_discover.mod97(upper(replace(v, ' ', '')))),
  count(*) FILTER (WHERE length(v) BETWEEN 9 AND 11 AND v ~ '^([0-9]{9}|[0-9]{3}([. -])[0-9]{3}\2[0-9]{3}|[0-9]{4}([. -])[0-9]{2}\3[0-9]{3})$' AND bench_discover.elfproef(bench_discover.digits(v))),
  count(*) FILTER (WHERE length(v) BETWEEN 12 AND 23 AND translate(v, '0123456789 -', '') = '' AND v ~ '^[0-9]{4}([ -]?[0-9]){8,15}$'
                   AND bench_discover.digits(v) ~ '^(4([0-9]{12}|[0-9]{15}|[0-9]{18})|(5[1-5][0-9]{2}|222[1-9]|22[3-9][0-9]|2[3-6][0-9]{2}|27[01][0-9]|2720)[0-9]{12}|3[47][0-9]{13}|(6011|64[4-9][0-9]|65[0-9]{2})[0-9]{12,15}|35(2[89]|[3-8][0-9])[0-9]{12,15}|3(0[0-5]|[689])[0-9]{11,16}|62[0-9]{14,17}|(50|5[6-8]|63|67)[0-9]{10,17})$'
                   AND bench_discover.luhn(bench_discover.digits(v))),
  count(*) FILTER (WHERE length(v) BETWEEN 7 AND 15 AND translate(v, '0123456789.', '') = '' AND v ~ '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$'),
  count(*) FILTER (WHERE strpos(v, ':') > 0 AND length(v) <= 45 AND v ~* '^(([0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|([0-9a-f]{1,4}:){1,7}:|([0-9a-f]{1,4}:){1,6}:[0-9a-f]{1,4}|([0-9a-f]{1,4}:){1,5}(:[0-9a-f]{1,4}){1,2}|([0-9a-f]{1,4}:){1,4}(:[0-9a-f]{1,4}){1,3}|([0-9a-f]{1,4}:){1,3}(:[0-9a-f]{1,4}){1,4}|([0-9a-f]{1,4}:){1,2}(:[0-9a-f]{1,4}){1,5}|[0-9a-f]{1,4}:(:[0-9a-f]{1,4}){1,6}|:((:[0-9a-f]{1,4}){1,7}|:)|::(ffff(:0{1,4})?:)?((25[0-5]|(2[0-4]|1?[0-9])?[0-9])\.){3}(25[0-5]|(2[0-4]|1?[0-9])?[0-9])|([0-9a-f]{1,4}:){1,4}:((25[0-5]|(2[0-4]|1?[0-9])?[0-9])\.){3}(25[0-5]|(2[0-4]|1?[0-9])?[0-9]))$'),
  count(*) FILTER (WHERE length(v) IN (6, 7) AND v ~ '^[1-9][0-9]{3} ?(?![Ss][AaDdSs])[A-Za-z]{2}$'),
  count(*) FILTER (WHERE strpos(v, '@') > 0 AND strpos(v, ' ') > 0 AND v ~ '[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}'),
  count(*) FILTER (WHERE v ~ '[A-Za-z]' AND v ~ '(^|[^0-9A-Za-z+])(\+[1-9][0-9]{0,2}|00[1-9][0-9]{0,2}|0)[ -]?\(?[0-9]{1,3}\)?([ .-]?[0-9]){6,9}($|[^0-9A-Za-z])'),
  count(*) FILTER (WHERE strpos(v, ' ') > 0 AND v ~ '(^|[^A-Za-z0-9])[A-Z]{2}[0-9]{2}( ?[A-Z0-9]){11,30}'
                   AND bench_discover.mod97(replace(substring(v from '[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}'), ' ', '')))
]::text AS counts
  FROM bench_discover.vals;

CREATE FUNCTION bench_discover.time_it(q text, OUT ms float8, OUT result text) LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz;
BEGIN
    t0 := clock_timestamp();
    EXECUTE q INTO result;
    ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;

SET max_parallel_workers_per_gather = 0;
\pset footer off
SELECT count(*) AS values, pg_size_pretty(sum(octet_length(v))) AS text_bytes,
       round(sum(octet_length(v)) / 1048576.0, 1) AS mb
  FROM bench_discover.vals;
-- warm the cache
SELECT count(v) AS warm FROM bench_discover.vals \gset
CREATE TEMP TABLE t AS
SELECT 'C detectors (gdpr._detect_counts)' AS side, * FROM bench_discover.time_it('SELECT gdpr._detect_counts(v)::text FROM bench_discover.vals');
INSERT INTO t SELECT 'SQL regex + arithmetic', * FROM bench_discover.time_it('SELECT counts FROM bench_discover.sql_detect');
SELECT side, round(ms::numeric) AS ms, result AS counts FROM t;
SELECT gdpr._detector_slots()::text AS slots;
SELECT format('ratio discover_detectors_vs_sql_regex: %s (target >= 10)',
              round(((SELECT ms FROM t WHERE side LIKE 'SQL%') / (SELECT ms FROM t WHERE side LIKE 'C%'))::numeric, 1)) AS " " \g
SQL
[ "${DISCOVER_BENCH_KEEP:-0}" = 1 ] || "${PSQL[@]}" -c "DROP SCHEMA bench_discover CASCADE"
