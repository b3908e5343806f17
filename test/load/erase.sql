-- an erasure of an ageing customer (the retention worker may be expiring it)
\set k random(1, :n)
INSERT INTO load.ledger (kind, relation, action, n)
SELECT 'erase', relation::text, action, rows FROM gdpr.erase('load.klant', :k, 'load test');
