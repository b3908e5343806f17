-- gdpr.discover on Chinook (a schema nobody on this project designed).
-- Every personal column is listed below and must be found; no more than one
-- in ten findings may be wrong (a finding outside the list is wrong).
CREATE DATABASE chinook_discover TEMPLATE chinook_tpl;
\c chinook_discover

CREATE TEMP TABLE expected_personal(relation text, column_name name, category text);
INSERT INTO expected_personal VALUES
 ('customer', 'first_name', 'name'), ('customer', 'last_name', 'name'),
 ('customer', 'address', 'contact.address'), ('customer', 'city', 'contact.address'),
 ('customer', 'state', 'contact.address'), ('customer', 'country', 'contact.address'),
 ('customer', 'postal_code', 'contact.address'), ('customer', 'phone', 'contact.phone'),
 ('customer', 'fax', 'contact.phone'), ('customer', 'email', 'contact.email'),
 ('employee', 'first_name', 'name'), ('employee', 'last_name', 'name'),
 ('employee', 'title', 'other'), ('employee', 'birth_date', 'demographic'),
 ('employee', 'address', 'contact.address'), ('employee', 'city', 'contact.address'),
 ('employee', 'state', 'contact.address'), ('employee', 'country', 'contact.address'),
 ('employee', 'postal_code', 'contact.address'), ('employee', 'phone', 'contact.phone'),
 ('employee', 'fax', 'contact.phone'), ('employee', 'email', 'contact.email'),
 ('invoice', 'billing_address', 'contact.address'), ('invoice', 'billing_city', 'contact.address'),
 ('invoice', 'billing_state', 'contact.address'), ('invoice', 'billing_country', 'contact.address'),
 ('invoice', 'billing_postal_code', 'contact.address');

-- all rows of every table (deterministic)
CREATE TEMP TABLE found AS
SELECT relation::text AS relation, column_name, category, confidence, evidence
  FROM gdpr.discover(100000);

SELECT relation, column_name, category, confidence, evidence
  FROM found ORDER BY relation, column_name;

-- personal columns not found (none)
SELECT e.* FROM expected_personal e
  LEFT JOIN found f USING (relation, column_name)
 WHERE f.relation IS NULL;

-- findings that are not personal columns
SELECT f.relation, f.column_name, f.category FROM found f
  LEFT JOIN expected_personal e USING (relation, column_name)
 WHERE e.relation IS NULL;

-- the ratio: wrong findings / findings, and the categories
SELECT count(*) AS findings,
       count(e.relation) AS correct,
       count(*) - count(e.relation) AS wrong,
       round((count(*) - count(e.relation))::numeric / count(*), 3) AS wrong_ratio,
       (count(*) - count(e.relation))::numeric / count(*) <= 0.1 AS at_most_one_in_ten,
       count(*) FILTER (WHERE f.category = e.category) AS same_category,
       (SELECT count(*) FROM expected_personal) AS expected
  FROM found f LEFT JOIN expected_personal e USING (relation, column_name);

-- the default sample (1000 rows, TABLESAMPLE for the bigger tables) finds the same
SELECT count(*) AS differences FROM (
  (SELECT relation::text, column_name FROM gdpr.discover() EXCEPT SELECT relation, column_name FROM found)
  UNION ALL
  (SELECT relation, column_name FROM found EXCEPT SELECT relation::text, column_name FROM gdpr.discover())) d;

\c contrib_regression
DROP DATABASE chinook_discover;
