-- The retention worker (API 6): it expires rows by itself within a few
-- naptimes (1 s in the test cluster), serves every database listed in
-- gdpr.database, obeys a reload (SIGHUP) of gdpr.retention_enabled, and a
-- table that fails is logged in gdpr.retention_runs while the rest goes on.
-- Waits are bounded polls, never a fixed sleep before a positive check.
CREATE DATABASE retention_worker;
\c retention_worker
SET client_min_messages = warning;
CREATE EXTENSION gdpr_crm CASCADE;

SELECT gdpr.define_purpose('w_short', 'legitimate_interests', '1 year');
CREATE SCHEMA w;
CREATE TABLE w.visit (id int PRIMARY KEY, visited_at timestamptz NOT NULL, ip inet);
SECURITY LABEL FOR gdpr ON TABLE w.visit IS 'RETAIN FROM visited_at';
SECURITY LABEL FOR gdpr ON COLUMN w.visit.ip IS 'PURPOSE w_short';
INSERT INTO w.visit VALUES (1, '2000-01-01', '10.0.0.1'), (2, '2999-01-01', '10.0.0.2');

-- poll a condition until true, at most timeout seconds
CREATE FUNCTION pg_temp.wait_for(q text, timeout_s int DEFAULT 60) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    ok boolean;
    deadline timestamptz := clock_timestamp() + make_interval(secs => timeout_s);
BEGIN
    LOOP
        PERFORM pg_stat_clear_snapshot();
        EXECUTE q INTO ok;
        IF ok THEN
            RETURN true;
        END IF;
        IF clock_timestamp() > deadline THEN
            RETURN false;
        END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;

-- serve this database as well as postgres
ALTER SYSTEM SET gdpr.database = 'postgres, retention_worker';
SELECT pg_reload_conf();
SELECT pg_temp.wait_for($$SELECT EXISTS (SELECT 1 FROM pg_stat_activity
    WHERE backend_type = 'gdpr_crm retention worker' AND datname = 'retention_worker')$$)
    AS worker_started;

-- the worker removes the expired visit by itself
SELECT pg_temp.wait_for($$SELECT NOT EXISTS (SELECT 1 FROM w.visit WHERE id = 1)$$)
    AS expired_by_worker;
SELECT id FROM w.visit ORDER BY id;
SELECT relation, action, rows, error, source FROM gdpr.retention_runs;
SELECT action, relation, details->>'deleted' AS deleted FROM gdpr.audit_log
 WHERE action = 'expire';

-- switched off by a reload: an expired row stays
ALTER SYSTEM SET gdpr.retention_enabled = off;
SELECT pg_reload_conf();
SELECT pg_sleep(2);  -- two naptimes, for the worker to take the reload
SELECT current_setting('gdpr.retention_enabled') AS enabled;  -- this session took it too
INSERT INTO w.visit VALUES (3, '2000-01-01', '10.0.0.3');
-- five naptimes: still there (this wait can only fail if the worker ignores the setting)
SELECT pg_temp.wait_for($$SELECT NOT EXISTS (SELECT 1 FROM w.visit WHERE id = 3)$$, 5)
    AS expired_while_off;

-- switched on again: it goes
ALTER SYSTEM SET gdpr.retention_enabled = on;
SELECT pg_reload_conf();
SELECT pg_temp.wait_for($$SELECT NOT EXISTS (SELECT 1 FROM w.visit WHERE id = 3)$$)
    AS expired_after_on;

-- a table that fails (a NOT NULL column without neutral value must be
-- cleared) is logged with its error; the other tables are still expired
CREATE TABLE w.odd (id int PRIMARY KEY, at date NOT NULL, pt point NOT NULL, note text);
SECURITY LABEL FOR gdpr ON TABLE w.odd IS 'RETAIN FROM at';
SECURITY LABEL FOR gdpr ON COLUMN w.odd.pt IS 'PURPOSE w_short';
INSERT INTO w.odd VALUES (1, '2000-01-01', '(1,2)', 'stays');
INSERT INTO w.visit VALUES (4, '2000-01-01', '10.0.0.4');
SELECT pg_temp.wait_for($$SELECT NOT EXISTS (SELECT 1 FROM w.visit WHERE id = 4)
    AND EXISTS (SELECT 1 FROM gdpr.retention_runs WHERE error IS NOT NULL)$$)
    AS failure_logged_rest_done;
SELECT DISTINCT relation, action, rows, error, source FROM gdpr.retention_runs
 WHERE error IS NOT NULL;
SELECT * FROM w.odd;
SELECT relation, action, sum(rows) AS rows FROM gdpr.retention_runs
 WHERE error IS NULL GROUP BY 1, 2 ORDER BY 1, 2;
SELECT ok FROM gdpr.verify_audit();

-- back to the harness settings; the worker of this database stops
ALTER SYSTEM RESET gdpr.database;
ALTER SYSTEM RESET gdpr.retention_enabled;
SELECT pg_reload_conf();
SELECT pg_temp.wait_for($$SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity
    WHERE backend_type = 'gdpr_crm retention worker' AND datname = 'retention_worker')$$)
    AS worker_stopped;

\c contrib_regression
DROP DATABASE retention_worker;
