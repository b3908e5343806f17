-- gdpr.erase on Chinook: invoices are kept for 7 years (legal obligation,
-- counted from invoice_date), so a customer's recent invoices are kept and
-- anonymized while old ones go; invoice lines follow their invoice's clock.
-- Employees are a second subject table with the reports_to self reference
-- and customers linking to them (support_rep_id).
CREATE DATABASE chinook_erase TEMPLATE chinook_tpl;
\c chinook_erase
SET client_min_messages = warning;
\set VERBOSITY terse
SELECT gdpr.define_purpose('service', 'contract');
SELECT gdpr.define_purpose('tax', 'legal_obligation', '7 years');
SELECT gdpr.define_purpose('hr', 'contract');
SECURITY LABEL FOR gdpr ON TABLE customer IS 'SUBJECT KEY (customer_id)';
SECURITY LABEL FOR gdpr ON COLUMN customer.first_name IS 'PURPOSE service CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN customer.last_name IS 'PURPOSE service CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN customer.address IS 'PURPOSE service CATEGORY contact.address';
SECURITY LABEL FOR gdpr ON COLUMN customer.city IS 'PURPOSE service CATEGORY contact.address';
SECURITY LABEL FOR gdpr ON COLUMN customer.postal_code IS 'PURPOSE service CATEGORY contact.address';
SECURITY LABEL FOR gdpr ON COLUMN customer.phone IS 'PURPOSE service CATEGORY contact.phone';
SECURITY LABEL FOR gdpr ON COLUMN customer.email IS 'PURPOSE service CATEGORY contact.email';
SECURITY LABEL FOR gdpr ON TABLE invoice IS 'RETAIN FROM invoice_date';
SECURITY LABEL FOR gdpr ON COLUMN invoice.total IS 'PURPOSE tax CATEGORY financial';
SECURITY LABEL FOR gdpr ON COLUMN invoice.billing_address IS 'PURPOSE service CATEGORY contact.address';
SECURITY LABEL FOR gdpr ON COLUMN invoice.billing_city IS 'PURPOSE service CATEGORY contact.address';
SECURITY LABEL FOR gdpr ON COLUMN invoice.billing_postal_code IS 'PURPOSE service CATEGORY contact.address';
SECURITY LABEL FOR gdpr ON COLUMN invoice_line.unit_price IS 'PURPOSE tax CATEGORY financial';
SECURITY LABEL FOR gdpr ON COLUMN invoice_line.quantity IS 'PURPOSE tax';
SECURITY LABEL FOR gdpr ON TABLE employee IS 'SUBJECT KEY (employee_id)';
SECURITY LABEL FOR gdpr ON COLUMN employee.first_name IS 'PURPOSE hr CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN employee.last_name IS 'PURPOSE hr CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN employee.birth_date IS 'PURPOSE hr CATEGORY demographic';
SECURITY LABEL FOR gdpr ON COLUMN employee.email IS 'PURPOSE hr CATEGORY contact.email';

-- customer 2's three earliest invoices are older than seven years, the
-- other four are a year old (Chinook's own dates would all be recent)
UPDATE invoice SET invoice_date = CASE WHEN invoice_id IN
    (SELECT invoice_id FROM invoice WHERE customer_id = 2 ORDER BY invoice_id LIMIT 3)
  THEN now() - interval '10 years' ELSE now() - interval '1 year' END
 WHERE customer_id = 2;

-- the expected outcome, counted with plain SQL before the erase
CREATE TEMP TABLE expect AS
SELECT 'invoice'::regclass AS relation, 'deleted' AS action,
       count(*) FILTER (WHERE invoice_date < now() - interval '7 years') AS rows
  FROM invoice WHERE customer_id = 2
UNION ALL
SELECT 'invoice', 'anonymized', count(*) FILTER (WHERE invoice_date >= now() - interval '7 years')
  FROM invoice WHERE customer_id = 2
UNION ALL
SELECT 'invoice_line', 'deleted', count(*) FILTER (WHERE i.invoice_date < now() - interval '7 years')
  FROM invoice_line l JOIN invoice i USING (invoice_id) WHERE i.customer_id = 2
UNION ALL
SELECT 'invoice_line', 'kept', count(*) FILTER (WHERE i.invoice_date >= now() - interval '7 years')
  FROM invoice_line l JOIN invoice i USING (invoice_id) WHERE i.customer_id = 2
UNION ALL
SELECT 'customer', 'anonymized', 1;
SELECT * FROM expect ORDER BY relation::text, action;
SELECT sum(total) AS recent_total FROM invoice
 WHERE customer_id = 2 AND invoice_date >= now() - interval '7 years' \gset

-- the dry run and the real run agree with the plain count
CREATE TEMP TABLE plan AS SELECT * FROM gdpr.erase('customer', 2, 'chinook test', true);
CREATE TEMP TABLE done AS SELECT * FROM gdpr.erase('customer', 2, 'chinook test');
SELECT * FROM done ORDER BY relation::text, action;
SELECT (SELECT count(*) FROM (SELECT * FROM plan EXCEPT ALL SELECT * FROM done) a) +
       (SELECT count(*) FROM (SELECT * FROM done EXCEPT ALL SELECT * FROM plan) b) AS plan_vs_done,
       (SELECT count(*) FROM (SELECT * FROM expect EXCEPT ALL SELECT * FROM done) a) +
       (SELECT count(*) FROM (SELECT * FROM done EXCEPT ALL SELECT * FROM expect) b) AS expect_vs_done;

-- what is left: recent invoices with their amounts, without the address
SELECT count(*) AS invoices, sum(total) = :recent_total AS amounts_kept,
       count(billing_address) AS addresses, count(billing_city) AS cities,
       count(billing_country) AS countries
  FROM invoice WHERE customer_id = 2;
SELECT first_name, last_name, address, city, postal_code, phone, email, country, support_rep_id
  FROM customer WHERE customer_id = 2;
SELECT count(*) AS lines_of_customer_2 FROM invoice_line l JOIN invoice i USING (invoice_id)
 WHERE i.customer_id = 2;
-- nothing else changed
SELECT count(*) AS other_customers_intact FROM customer WHERE customer_id <> 2 AND email <> '';
SELECT * FROM gdpr.erase('customer', 2);

-- employees: Nancy (2) has three reports; the link to her is cleared
SELECT employee_id, reports_to FROM employee ORDER BY 1;
SELECT * FROM gdpr.erase('employee', 2, 'left the company') ORDER BY relation::text, action;
SELECT employee_id, reports_to FROM employee ORDER BY 1;
-- Jane (3) is the support rep of 21 customers: those links are cleared
SELECT count(*) AS janes_customers FROM customer WHERE support_rep_id = 3;
SELECT * FROM gdpr.erase('employee', '3') ORDER BY relation::text, action;
SELECT count(*) AS janes_customers FROM customer WHERE support_rep_id = 3;
SELECT count(*) AS customers_without_rep FROM customer WHERE support_rep_id IS NULL;

-- a customer with no recent invoice leaves nothing behind
UPDATE invoice SET invoice_date = now() - interval '8 years' WHERE customer_id = 5;
SELECT count(*) AS lines FROM invoice_line l JOIN invoice i USING (invoice_id) WHERE customer_id = 5;
SELECT * FROM gdpr.erase('customer', 5) ORDER BY relation::text, action;
SELECT (SELECT count(*) FROM customer WHERE customer_id = 5) AS customer,
       (SELECT count(*) FROM invoice WHERE customer_id = 5) AS invoices;

-- one audit entry per erase that did something
SELECT count(*) AS erase_entries FROM gdpr.audit_log WHERE action = 'erase';
SELECT ok FROM gdpr.verify_audit();

\c contrib_regression
DROP DATABASE chinook_erase;
