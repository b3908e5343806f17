-- a purpose-view reader
\set lo random(1, :n + :s)
SELECT count(*), max(email) FROM load.klant_ld_nieuws WHERE id BETWEEN :lo AND :lo + 200;
