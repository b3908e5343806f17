-- gdpr.erase on Northwind: text keys (customer_id 'ALFKI'), composite keys
-- (order_details, customer_customer_demo, and a note table whose key
-- references order_details by (order_id, product_id)), a customer type shared
-- with another customer (kept) next to one of its own (deleted), and orders
-- kept for 7 years by order_date (legal obligation on the amounts).
CREATE DATABASE northwind_erase TEMPLATE northwind_tpl;
\c northwind_erase
SET client_min_messages = warning;
\set VERBOSITY terse
SELECT gdpr.define_purpose('service', 'contract');
SELECT gdpr.define_purpose('tax', 'legal_obligation', '7 years');
SECURITY LABEL FOR gdpr ON TABLE customers IS 'SUBJECT KEY (customer_id)';
SECURITY LABEL FOR gdpr ON COLUMN customers.company_name IS 'PURPOSE service CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN customers.contact_name IS 'PURPOSE service CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN customers.address IS 'PURPOSE service CATEGORY contact.address';
SECURITY LABEL FOR gdpr ON COLUMN customers.phone IS 'PURPOSE service CATEGORY contact.phone';
SECURITY LABEL FOR gdpr ON TABLE orders IS 'RETAIN FROM order_date';
SECURITY LABEL FOR gdpr ON COLUMN orders.freight IS 'PURPOSE tax CATEGORY financial';
SECURITY LABEL FOR gdpr ON COLUMN orders.ship_name IS 'PURPOSE service CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN orders.ship_address IS 'PURPOSE service CATEGORY contact.address';
SECURITY LABEL FOR gdpr ON COLUMN order_details.unit_price IS 'PURPOSE tax CATEGORY financial';
SECURITY LABEL FOR gdpr ON COLUMN customer_demographics.customer_desc IS 'PURPOSE service CATEGORY demographic';

-- a composite foreign key into order_details
CREATE TABLE order_detail_notes (order_id smallint, product_id smallint, note text NOT NULL,
  FOREIGN KEY (order_id, product_id) REFERENCES order_details);
SECURITY LABEL FOR gdpr ON COLUMN order_detail_notes.note IS 'PURPOSE service';
INSERT INTO order_detail_notes SELECT d.order_id, d.product_id, 'gift wrap'
  FROM order_details d JOIN orders o USING (order_id) WHERE o.customer_id IN ('ALFKI', 'ANATR');
INSERT INTO customer_demographics VALUES ('OWN', 'only Alfreds'), ('SHR', 'shared');
INSERT INTO customer_customer_demo VALUES ('ALFKI', 'OWN'), ('ALFKI', 'SHR'), ('ANATR', 'SHR');
-- two of ALFKI's orders are recent (inside the 7 years)
UPDATE orders SET order_date = now() - interval '1 year'
 WHERE order_id IN (SELECT order_id FROM orders WHERE customer_id = 'ALFKI' ORDER BY order_id DESC LIMIT 2);

-- the expected outcome, counted with plain SQL
CREATE TEMP TABLE expect AS
SELECT 'orders'::regclass AS relation, 'deleted' AS action,
       count(*) FILTER (WHERE order_date < now() - interval '7 years') AS rows
  FROM orders WHERE customer_id = 'ALFKI'
UNION ALL
SELECT 'orders', 'anonymized', count(*) FILTER (WHERE order_date >= now() - interval '7 years')
  FROM orders WHERE customer_id = 'ALFKI'
UNION ALL
SELECT 'order_details', 'deleted', count(*) FILTER (WHERE o.order_date < now() - interval '7 years')
  FROM order_details d JOIN orders o USING (order_id) WHERE o.customer_id = 'ALFKI'
UNION ALL
SELECT 'order_details', 'kept', count(*) FILTER (WHERE o.order_date >= now() - interval '7 years')
  FROM order_details d JOIN orders o USING (order_id) WHERE o.customer_id = 'ALFKI'
UNION ALL
SELECT 'order_detail_notes', 'deleted', count(*)
  FROM order_detail_notes n JOIN orders o USING (order_id) WHERE o.customer_id = 'ALFKI'
UNION ALL
SELECT 'customer_customer_demo', 'deleted', count(*) FROM customer_customer_demo WHERE customer_id = 'ALFKI'
UNION ALL SELECT 'customer_demographics', 'deleted', 1
UNION ALL SELECT 'customer_demographics', 'kept', 1
UNION ALL SELECT 'customers', 'anonymized', 1;
SELECT * FROM expect ORDER BY relation::text, action;

CREATE TEMP TABLE reach AS SELECT * FROM gdpr._subject_reach('customers', 'ALFKI');
SELECT relation, count(*) FROM reach GROUP BY 1 ORDER BY relation::text;
CREATE TEMP TABLE plan AS SELECT * FROM gdpr.erase('customers', 'ALFKI', dry_run => true);
CREATE TEMP TABLE done AS SELECT * FROM gdpr.erase('customers', 'ALFKI'::varchar);
SELECT * FROM done ORDER BY relation::text, action;
SELECT (SELECT count(*) FROM (SELECT * FROM plan EXCEPT ALL SELECT * FROM done) a) +
       (SELECT count(*) FROM (SELECT * FROM done EXCEPT ALL SELECT * FROM plan) b) AS plan_vs_done,
       (SELECT count(*) FROM (SELECT * FROM expect EXCEPT ALL SELECT * FROM done) a) +
       (SELECT count(*) FROM (SELECT * FROM done EXCEPT ALL SELECT * FROM expect) b) AS expect_vs_done;

-- checked with plain SQL
SELECT customer_id, company_name, contact_name, address, phone, city FROM customers WHERE customer_id = 'ALFKI';
SELECT count(*) AS orders, count(freight) AS freights, count(ship_name) AS ship_names,
       count(ship_address) AS ship_addresses FROM orders WHERE customer_id = 'ALFKI';
SELECT * FROM customer_demographics ORDER BY 1;
SELECT * FROM customer_customer_demo ORDER BY 1, 2;
SELECT count(*) AS anatr_notes FROM order_detail_notes n JOIN orders o USING (order_id) WHERE o.customer_id = 'ANATR';
SELECT * FROM gdpr.erase('customers', 'ALFKI');

\c contrib_regression
DROP DATABASE northwind_erase;
