-- gdpr.erase over every shape of the subject graph: multi-level chains,
-- composite keys, self references, cycles of deferrable keys, partitioned
-- tables (keys on the parent and keys on some partitions only), BELONGS TO
-- links without a key, user triggers and row-level security.
SET client_min_messages = warning;
\set VERBOSITY terse
CREATE SCHEMA eg;
SELECT gdpr.define_purpose('eg_service', 'contract');
SELECT gdpr.define_purpose('eg_books', 'legal_obligation', '7 years');

CREATE TABLE eg.person (id int PRIMARY KEY, name text, mentor int REFERENCES eg.person);
SECURITY LABEL FOR gdpr ON TABLE eg.person IS 'SUBJECT KEY (id)';
SECURITY LABEL FOR gdpr ON COLUMN eg.person.name IS 'PURPOSE eg_service CATEGORY name';

-- multi-level: person <- account <- txn <- txn_note
CREATE TABLE eg.account (id int PRIMARY KEY, person_id int NOT NULL REFERENCES eg.person, iban text);
CREATE TABLE eg.txn (id int PRIMARY KEY, account_id int NOT NULL REFERENCES eg.account, amount numeric);
CREATE TABLE eg.txn_note (id int PRIMARY KEY, txn_id int REFERENCES eg.txn ON DELETE CASCADE, note text);
SECURITY LABEL FOR gdpr ON COLUMN eg.account.iban IS 'PURPOSE eg_service CATEGORY financial';

-- composite keys: (person_id, ono) <- (person_id, ono, line)
CREATE TABLE eg.ordr (person_id int REFERENCES eg.person, ono int, PRIMARY KEY (person_id, ono));
CREATE TABLE eg.ordr_line (person_id int, ono int, line int, item text,
  PRIMARY KEY (person_id, ono, line), FOREIGN KEY (person_id, ono) REFERENCES eg.ordr ON DELETE RESTRICT);

-- self reference in a table that is not a subject table: replies
CREATE TABLE eg.comment (id int PRIMARY KEY, person_id int REFERENCES eg.person,
  reply_to int REFERENCES eg.comment, body text);

-- a cycle: team.captain -> member, member.team -> team (deferrable)
CREATE TABLE eg.team (id int PRIMARY KEY, owner_id int NOT NULL REFERENCES eg.person, captain int);
CREATE TABLE eg.member (id int PRIMARY KEY, team_id int NOT NULL
  REFERENCES eg.team DEFERRABLE INITIALLY DEFERRED);
ALTER TABLE eg.team ADD FOREIGN KEY (captain) REFERENCES eg.member DEFERRABLE INITIALLY DEFERRED;

-- partitioned, key on the parent
CREATE TABLE eg.event (person_id int NOT NULL REFERENCES eg.person, at date NOT NULL, what text)
  PARTITION BY RANGE (at);
CREATE TABLE eg.event_2023 PARTITION OF eg.event FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE eg.event_2024 PARTITION OF eg.event FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
-- partitioned, key only on one partition
CREATE TABLE eg.log (person_id int, kind text NOT NULL, msg text) PARTITION BY LIST (kind);
CREATE TABLE eg.log_a PARTITION OF eg.log FOR VALUES IN ('a');
CREATE TABLE eg.log_b PARTITION OF eg.log FOR VALUES IN ('b');
ALTER TABLE eg.log_a ADD FOREIGN KEY (person_id) REFERENCES eg.person;

-- BELONGS TO: no declared key
CREATE TABLE eg.ticket (id int PRIMARY KEY, person_ref int, subject text);
SECURITY LABEL FOR gdpr ON TABLE eg.ticket IS 'BELONGS TO eg.person (person_ref)';
SECURITY LABEL FOR gdpr ON COLUMN eg.ticket.subject IS 'PURPOSE eg_service';

-- kept for the books: invoice (RETAIN FROM), its lines follow its clock
CREATE TABLE eg.invoice (id int PRIMARY KEY, person_id int REFERENCES eg.person,
  account_id int REFERENCES eg.account, issued date NOT NULL, total numeric, name text);
SECURITY LABEL FOR gdpr ON TABLE eg.invoice IS 'RETAIN FROM issued';
SECURITY LABEL FOR gdpr ON COLUMN eg.invoice.total IS 'PURPOSE eg_books CATEGORY financial';
SECURITY LABEL FOR gdpr ON COLUMN eg.invoice.name IS 'PURPOSE eg_service CATEGORY name';
CREATE TABLE eg.invoice_line (invoice_id int REFERENCES eg.invoice, n int, price numeric, PRIMARY KEY (invoice_id, n));
SECURITY LABEL FOR gdpr ON COLUMN eg.invoice_line.price IS 'PURPOSE eg_books';

CREATE FUNCTION eg.fill() RETURNS void LANGUAGE sql AS $$
INSERT INTO eg.person VALUES (1, 'Ann', NULL), (2, 'Bob', 1), (3, 'Cas', 2);
INSERT INTO eg.account VALUES (10, 1, 'NL01'), (11, 1, 'NL02'), (20, 2, 'NL03');
INSERT INTO eg.txn VALUES (100, 10, 5), (101, 10, 6), (102, 11, 7), (200, 20, 8);
INSERT INTO eg.txn_note VALUES (1000, 100, 'x'), (1001, 102, 'y'), (2000, 200, 'z');
INSERT INTO eg.ordr VALUES (1, 1), (1, 2), (2, 1);
INSERT INTO eg.ordr_line VALUES (1, 1, 1, 'a'), (1, 1, 2, 'b'), (1, 2, 1, 'c'), (2, 1, 1, 'd');
INSERT INTO eg.comment VALUES (1, 1, NULL, 'ann says'), (2, 2, 1, 'bob replies to ann'),
  (3, 2, NULL, 'bob alone'), (4, 1, 3, 'ann replies to bob');
INSERT INTO eg.team VALUES (1, 1, NULL), (2, 2, NULL);
INSERT INTO eg.member VALUES (1, 1), (2, 1), (3, 2);
UPDATE eg.team SET captain = 1 WHERE id = 1;
UPDATE eg.team SET captain = 3 WHERE id = 2;
INSERT INTO eg.event VALUES (1, '2023-05-01', 'e1'), (1, '2024-05-01', 'e2'), (2, '2024-06-01', 'e3');
INSERT INTO eg.log VALUES (1, 'a', 'l1'), (1, 'b', 'not linked by a key'), (2, 'a', 'l3');
INSERT INTO eg.ticket VALUES (1, 1, 't1'), (2, 1, 't2'), (3, 2, 't3');
INSERT INTO eg.invoice VALUES (1, 1, 10, current_date - 30, 100, 'Ann'),
  (2, 1, NULL, '2001-01-01', 50, 'Ann'), (3, 2, 20, current_date, 70, 'Bob');
INSERT INTO eg.invoice_line VALUES (1, 1, 60), (1, 2, 40), (2, 1, 50), (3, 1, 70);
$$;
SELECT eg.fill();

-- what the subject graph reaches for Ann: every row, counted by hand
SELECT r.relation, count(*) FROM gdpr._subject_reach('eg.person', 1) r
 GROUP BY 1 ORDER BY r.relation::text;

-- the plan; a dry run changes nothing
CREATE TABLE eg.plan AS SELECT * FROM gdpr.erase('eg.person', 1, 'test', true);
SELECT * FROM eg.plan ORDER BY relation::text, action;
SELECT count(*) AS persons, (SELECT count(*) FROM eg.txn) AS txns,
       (SELECT count(*) FROM eg.log) AS logs FROM eg.person;

-- the real run returns exactly the dry run
CREATE TABLE eg.done AS SELECT * FROM gdpr.erase('eg.person', 1, 'test');
SELECT count(*) AS differences FROM
  ((SELECT * FROM eg.plan EXCEPT ALL SELECT * FROM eg.done)
   UNION ALL (SELECT * FROM eg.done EXCEPT ALL SELECT * FROM eg.plan)) d;

-- what is left, checked with plain SQL
SELECT * FROM eg.person ORDER BY id;        -- Ann anonymized (kept invoice), Bob's mentor link cleared
SELECT * FROM eg.account ORDER BY id;       -- account 10 stays (invoice 1 refers to it), iban cleared
SELECT * FROM eg.txn ORDER BY id;
SELECT * FROM eg.txn_note ORDER BY id;
SELECT * FROM eg.ordr ORDER BY 1, 2;
SELECT * FROM eg.ordr_line ORDER BY 1, 2, 3;
SELECT * FROM eg.comment ORDER BY id;       -- Ann's comments and the reply to them gone
SELECT * FROM eg.team ORDER BY id;
SELECT * FROM eg.member ORDER BY id;
SELECT tableoid::regclass, * FROM eg.event ORDER BY at;
SELECT tableoid::regclass, * FROM eg.log ORDER BY msg;
SELECT * FROM eg.ticket ORDER BY id;
SELECT id, person_id, account_id, issued > '2020-01-01' AS recent, total, name FROM eg.invoice ORDER BY id;  -- 1 kept with total, name cleared; 2 (2001) gone
SELECT * FROM eg.invoice_line ORDER BY 1, 2;

-- idempotent: nothing to do, no audit entry
SELECT count(*) AS erase_entries FROM gdpr.audit_log WHERE action = 'erase' \gset before_
SELECT * FROM gdpr.erase('eg.person', 1);
SELECT count(*) - :before_erase_entries AS new_entries FROM gdpr.audit_log WHERE action = 'erase';

-- user triggers run, and one that refuses makes the whole erase fail
CREATE TABLE eg.trigger_log (what text);
CREATE FUNCTION eg.log_delete() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN INSERT INTO eg.trigger_log VALUES (TG_TABLE_NAME || ' ' || OLD.id); RETURN OLD; END$$;
CREATE TRIGGER log_delete BEFORE DELETE ON eg.txn FOR EACH ROW EXECUTE FUNCTION eg.log_delete();
SELECT * FROM gdpr.erase('eg.person', 2) WHERE relation = 'eg.txn'::regclass;
SELECT * FROM eg.trigger_log;
INSERT INTO eg.person VALUES (4, 'Dan', NULL);
INSERT INTO eg.account VALUES (40, 4, 'NL04');
INSERT INTO eg.txn VALUES (400, 40, 1), (401, 40, 2);
CREATE FUNCTION eg.refuse() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN IF OLD.id = 401 THEN RETURN NULL; END IF; RETURN OLD; END$$;
CREATE TRIGGER refuse BEFORE DELETE ON eg.txn FOR EACH ROW EXECUTE FUNCTION eg.refuse();
SELECT * FROM gdpr.erase('eg.person', 4);
SELECT (SELECT count(*) FROM eg.person WHERE id = 4) AS dan,
       (SELECT count(*) FROM eg.txn WHERE account_id = 40) AS dans_txns;
DROP TRIGGER refuse ON eg.txn;

-- row-level security: a policy cannot hide rows from the erasure
CREATE ROLE eg_dpo;
GRANT USAGE ON SCHEMA eg TO eg_dpo;
GRANT SELECT, UPDATE, DELETE ON ALL TABLES IN SCHEMA eg TO eg_dpo;
GRANT INSERT ON eg.trigger_log TO eg_dpo;
GRANT EXECUTE ON FUNCTION gdpr.erase(regclass, anyelement, text, boolean) TO eg_dpo;
ALTER TABLE eg.txn ENABLE ROW LEVEL SECURITY;
CREATE POLICY hide ON eg.txn USING (amount < 2);
SET ROLE eg_dpo;
SELECT * FROM gdpr.erase('eg.person', 4);   -- the policy would hide txn 401: refused, as a whole
RESET ROLE;
SELECT (SELECT count(*) FROM eg.person WHERE id = 4) AS dan,
       (SELECT count(*) FROM eg.txn WHERE account_id = 40) AS dans_txns;
SELECT * FROM gdpr.erase('eg.person', 4) ORDER BY relation::text, action;  -- the owner may
SELECT (SELECT count(*) FROM eg.person WHERE id = 4) AS dan,
       (SELECT count(*) FROM eg.txn WHERE account_id = 40) AS dans_txns;

-- the graph follows DDL: a new table referencing person is reached at once
INSERT INTO eg.person VALUES (5, 'Eve', NULL);
CREATE TABLE eg.late (id int PRIMARY KEY, person_id int REFERENCES eg.person);
INSERT INTO eg.late VALUES (1, 5);
SELECT * FROM gdpr.erase('eg.person', 5) ORDER BY relation::text, action;

-- a graph where nothing can be kept is erased by one statement (the fused
-- path); its result equals the dry run's (the general path)
CREATE TABLE eg.club (id int PRIMARY KEY, name text, invited_by int REFERENCES eg.club);
SECURITY LABEL FOR gdpr ON TABLE eg.club IS 'SUBJECT KEY (id)';
SECURITY LABEL FOR gdpr ON COLUMN eg.club.name IS 'PURPOSE eg_service';
CREATE TABLE eg.visit (club_id int REFERENCES eg.club, n int, PRIMARY KEY (club_id, n));
CREATE TABLE eg.visit_item (club_id int, n int, item text,
  FOREIGN KEY (club_id, n) REFERENCES eg.visit ON DELETE CASCADE);
CREATE TABLE eg.club_note (club_ref int, body text);
SECURITY LABEL FOR gdpr ON TABLE eg.club_note IS 'BELONGS TO eg.club (club_ref)';
INSERT INTO eg.club VALUES (1, 'one', NULL), (2, 'two', 1), (3, 'three', 1), (4, 'four', 2);
INSERT INTO eg.visit SELECT c, n FROM generate_series(1, 4) c, generate_series(1, 3) n;
INSERT INTO eg.visit_item SELECT club_id, n, 'i' || k FROM eg.visit, generate_series(1, 2) k;
INSERT INTO eg.club_note SELECT c, 'note' FROM generate_series(1, 4) c, generate_series(1, 2);
CREATE TABLE eg.fplan AS SELECT * FROM gdpr.erase('eg.club', 1, dry_run => true);
CREATE TABLE eg.fdone AS SELECT * FROM gdpr.erase('eg.club', 1);
SELECT * FROM eg.fdone ORDER BY relation::text, action;
SELECT count(*) AS differences FROM
  ((SELECT * FROM eg.fplan EXCEPT ALL SELECT * FROM eg.fdone)
   UNION ALL (SELECT * FROM eg.fdone EXCEPT ALL SELECT * FROM eg.fplan)) d;
SELECT id, invited_by FROM eg.club ORDER BY id;
SELECT club_id, count(*) FROM eg.visit_item GROUP BY 1 ORDER BY 1;
SELECT club_ref, count(*) FROM eg.club_note GROUP BY 1 ORDER BY 1;
SELECT * FROM gdpr.erase('eg.club', 1);

-- a graph whose keys all cascade: erase deletes the subject row and lets
-- the cascades do the rest; the counts are those of the rows really
-- deleted, equal to the dry run's
CREATE TABLE eg.guest (id int PRIMARY KEY, name text);
SECURITY LABEL FOR gdpr ON TABLE eg.guest IS 'SUBJECT KEY (id)';
SECURITY LABEL FOR gdpr ON COLUMN eg.guest.name IS 'PURPOSE eg_service';
CREATE TABLE eg.stay (id int PRIMARY KEY, guest_id int NOT NULL REFERENCES eg.guest ON DELETE CASCADE);
CREATE TABLE eg.stay_night (stay_id int REFERENCES eg.stay ON DELETE CASCADE, n int, PRIMARY KEY (stay_id, n));
INSERT INTO eg.guest VALUES (1, 'Ann'), (2, 'Bob');
INSERT INTO eg.stay SELECT g * 10 + s, g FROM generate_series(1, 2) g, generate_series(1, 3) s;
INSERT INTO eg.stay_night SELECT id, n FROM eg.stay, generate_series(1, 2) n;
SELECT gdpr.define_purpose('eg_news', 'consent');
SELECT gdpr.grant_consent('eg.guest', k, 'eg_news', 'checkbox') > 0 AS granted FROM generate_series(1, 2) k;
SELECT gdpr.request('eg.guest', 1, 'erasure') AS guest_request \gset
CREATE TABLE eg.cplan AS SELECT * FROM gdpr.erase('eg.guest', 1, dry_run => true);
-- the caller needs the rights on every table the cascades reach
GRANT SELECT, DELETE ON eg.guest, eg.stay TO eg_dpo;
SET ROLE eg_dpo;
SELECT * FROM gdpr.erase('eg.guest', 1);
RESET ROLE;
GRANT SELECT, DELETE ON eg.stay_night TO eg_dpo;
SET ROLE eg_dpo;
CREATE TEMP TABLE cdone AS SELECT * FROM gdpr.erase('eg.guest', 1);
RESET ROLE;
SELECT * FROM cdone ORDER BY relation::text, action;
SELECT count(*) AS differences FROM
  ((SELECT * FROM eg.cplan EXCEPT ALL SELECT * FROM cdone)
   UNION ALL (SELECT * FROM cdone EXCEPT ALL SELECT * FROM eg.cplan)) d;
SELECT (SELECT count(*) FROM eg.stay) AS stays_left,
       (SELECT count(*) FROM eg.stay_night) AS nights_left;
SELECT subject_key, count(*) FROM gdpr.consent_events WHERE subject = 'eg.guest'::regclass GROUP BY 1 ORDER BY 1;
SELECT completed_at IS NOT NULL AS request_completed FROM gdpr.requests WHERE id = :guest_request;
SELECT action, details FROM gdpr.audit_log WHERE action = 'erase' ORDER BY id DESC LIMIT 1;
SELECT * FROM gdpr.erase('eg.guest', 1);
SELECT relation::text, action, rows FROM gdpr.erase('eg.guest', 2) ORDER BY 1, 2;
DELETE FROM gdpr.request WHERE id = :guest_request;
SELECT gdpr.drop_purpose('eg_news');

DROP SCHEMA eg CASCADE;
DROP OWNED BY eg_dpo;
DROP ROLE eg_dpo;
SELECT gdpr.drop_purpose('eg_service');
SELECT gdpr.drop_purpose('eg_books');
