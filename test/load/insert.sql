-- a new customer with three orders, in one statement
WITH k AS (INSERT INTO load.klant (naam, email, gezien)
           VALUES ('nieuw', 'nieuw@example.nl', now() + interval '10 years') RETURNING id),
     b AS (INSERT INTO load.bestelling (klant_id, totaal) SELECT k.id, g FROM k, generate_series(1, 3) g RETURNING 1)
INSERT INTO load.ledger (kind, n) SELECT 'insert', count(*) FROM b;
