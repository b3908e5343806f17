-- gdpr.discover on Northwind (a schema nobody on this project designed).
-- Every personal column is listed below and must be found; no more than one
-- in ten findings may be wrong (a finding outside the list is wrong).
CREATE DATABASE northwind_discover TEMPLATE northwind_tpl;
\c northwind_discover

CREATE TEMP TABLE expected_personal(relation text, column_name name, category text);
INSERT INTO expected_personal VALUES
 ('customers', 'contact_name', 'name'), ('customers', 'contact_title', 'other'),
 ('customers', 'address', 'contact.address'), ('customers', 'city', 'contact.address'),
 ('customers', 'region', 'contact.address'), ('customers', 'postal_code', 'contact.address'),
 ('customers', 'country', 'contact.address'), ('customers', 'phone', 'contact.phone'),
 ('customers', 'fax', 'contact.phone'),
 ('employees', 'last_name', 'name'), ('employees', 'first_name', 'name'),
 ('employees', 'title', 'other'), ('employees', 'title_of_courtesy', 'demographic'),
 ('employees', 'birth_date', 'demographic'), ('employees', 'address', 'contact.address'),
 ('employees', 'city', 'contact.address'), ('employees', 'region', 'contact.address'),
 ('employees', 'postal_code', 'contact.address'), ('employees', 'country', 'contact.address'),
 ('employees', 'home_phone', 'contact.phone'), ('employees', 'extension', 'contact.phone'),
 ('employees', 'photo', 'other'), ('employees', 'notes', 'other'),
 ('employees', 'photo_path', 'other'),
 ('orders', 'ship_name', 'name'), ('orders', 'ship_address', 'contact.address'),
 ('orders', 'ship_city', 'contact.address'), ('orders', 'ship_region', 'contact.address'),
 ('orders', 'ship_postal_code', 'contact.address'), ('orders', 'ship_country', 'contact.address'),
 ('suppliers', 'contact_name', 'name'), ('suppliers', 'contact_title', 'other'),
 ('suppliers', 'address', 'contact.address'), ('suppliers', 'city', 'contact.address'),
 ('suppliers', 'region', 'contact.address'), ('suppliers', 'postal_code', 'contact.address'),
 ('suppliers', 'country', 'contact.address'), ('suppliers', 'phone', 'contact.phone'),
 ('suppliers', 'fax', 'contact.phone'),
 ('shippers', 'phone', 'contact.phone');

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
DROP DATABASE northwind_discover;
