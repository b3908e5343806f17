-- the checker: prints one line per check, "ok" or "FAIL"
\pset tuples_only on
\pset format unaligned
WITH s AS (SELECT * FROM load.start),
     ins AS (SELECT coalesce(sum(n), 0) AS orders, count(*) AS klanten FROM load.ledger WHERE kind = 'insert'),
     er AS (SELECT coalesce(sum(n) FILTER (WHERE relation = 'load.klant' AND action = 'deleted'), 0) AS klanten,
                   coalesce(sum(n) FILTER (WHERE relation = 'load.bestelling' AND action = 'deleted'), 0) AS orders
              FROM load.ledger WHERE kind = 'erase'),
     ex AS (SELECT coalesce(sum(rows) FILTER (WHERE relid = 'load.klant'::regclass AND action = 'deleted'), 0) AS klanten,
                   coalesce(sum(rows) FILTER (WHERE relid = 'load.bestelling'::regclass AND action = 'deleted'), 0) AS orders,
                   count(*) FILTER (WHERE error IS NOT NULL) AS errors
              FROM gdpr.retention_run WHERE id > (SELECT last_run FROM load.start)),
     now_ AS (SELECT (SELECT count(*) FROM load.klant) AS klanten, (SELECT count(*) FROM load.bestelling) AS orders)
SELECT CASE WHEN s.klanten + ins.klanten - er.klanten - ex.klanten = now_.klanten THEN 'ok' ELSE 'FAIL' END
       || format(' customers add up: %s at start + %s inserted - %s erased - %s expired = %s, counted %s',
                 s.klanten, ins.klanten, er.klanten, ex.klanten,
                 s.klanten + ins.klanten - er.klanten - ex.klanten, now_.klanten)
  FROM s, ins, er, ex, now_
UNION ALL
SELECT CASE WHEN s.bestellingen + ins.orders - er.orders - ex.orders = now_.orders THEN 'ok' ELSE 'FAIL' END
       || format(' orders add up: %s at start + %s inserted - %s erased - %s expired = %s, counted %s',
                 s.bestellingen, ins.orders, er.orders, ex.orders,
                 s.bestellingen + ins.orders - er.orders - ex.orders, now_.orders)
  FROM s, ins, er, ex, now_
UNION ALL
SELECT CASE WHEN (SELECT count(*) FROM gdpr.consent_event) - s.consent_events
                 = (SELECT coalesce(sum(n), 0) FROM load.ledger WHERE kind = 'consent') THEN 'ok' ELSE 'FAIL' END
       || format(' consent events add up: %s new events, %s recorded by the clients',
                 (SELECT count(*) FROM gdpr.consent_event) - s.consent_events,
                 (SELECT coalesce(sum(n), 0) FROM load.ledger WHERE kind = 'consent'))
  FROM s
UNION ALL
SELECT CASE WHEN ex.klanten > 0 AND (SELECT count(*) FROM load.ledger WHERE kind = 'erase') > 0
            THEN 'ok' ELSE 'FAIL' END
       || format(' the worker expired %s customers while the clients erased %s', ex.klanten, er.klanten)
  FROM ex, er
UNION ALL
SELECT CASE WHEN ex.errors = 0 THEN 'ok' ELSE 'FAIL' END || format(' retention runs with an error: %s', ex.errors) FROM ex
UNION ALL
SELECT CASE WHEN ok THEN 'ok' ELSE 'FAIL' END || format(' verify_audit(): ok=%s, %s entries checked', ok, checked)
  FROM gdpr.verify_audit()
UNION ALL
SELECT CASE WHEN count(*) = 0 THEN 'ok' ELSE 'FAIL' END
       || format(' customers whose retention ran out more than 30 s ago and are still there: %s', count(*))
  FROM load.klant WHERE gezien < now() - interval '1 day' - interval '30 seconds'
UNION ALL
SELECT CASE WHEN count(*) = 0 THEN 'ok' ELSE 'FAIL' END
       || format(' orders whose customer is gone: %s', count(*))
  FROM load.bestelling b WHERE NOT EXISTS (SELECT 1 FROM load.klant k WHERE k.id = b.klant_id);
