-- Consent and purpose views on Chinook, a schema nobody on this project
-- designed: consent for a subset of the customers; the views' row counts
-- match an independent count; the invoices view follows the customer's
-- consent (invoice -> customer directly, invoice_line through invoice).
CREATE DATABASE chinook_consent TEMPLATE chinook_tpl;
\c chinook_consent
SET client_min_messages = warning;
SELECT gdpr.define_purpose('marketing', 'consent', NULL, 'music newsletter', '2 years');
SELECT gdpr.define_purpose('billing', 'legal_obligation', '7 years');
SECURITY LABEL FOR gdpr ON TABLE customer IS 'SUBJECT KEY (customer_id)';
SELECT gdpr.tag_column('customer', c, '{billing,marketing}', 'name') FROM unnest('{first_name,last_name}'::name[]) c;
SELECT gdpr.tag_column('customer', 'email', '{marketing}', 'contact.email');
SELECT gdpr.tag_column('customer', c, '{billing}', 'contact.address')
  FROM unnest('{address,city,state,postal_code}'::name[]) c;
SELECT gdpr.tag_column('customer', c, '{billing}', 'contact.phone') FROM unnest('{phone,fax}'::name[]) c;
SELECT gdpr.tag_column('invoice', c, '{billing}', 'contact.address')
  FROM unnest('{billing_address,billing_city,billing_state,billing_postal_code}'::name[]) c;

-- customers in Brazil, Canada and Germany, and every 7th, sign up
SELECT count(gdpr.grant_consent('customer', customer_id, 'marketing', 'double_opt_in',
                                'chinook web shop', jsonb_build_object('form', 'signup-2024'),
                                'privacy-2024-01'))
  FROM customer WHERE country IN ('Brazil', 'Canada', 'Germany') OR customer_id % 7 = 0;
-- and one of them unsubscribes again
SELECT gdpr.withdraw_consent('customer', 1, 'marketing', 'unsubscribe link');

SELECT gdpr.create_purpose_view('customer', 'marketing');
SELECT gdpr.create_purpose_view('invoice', 'marketing');
SELECT gdpr.create_purpose_view('invoice_line', 'marketing');
SELECT gdpr.create_purpose_view('invoice', 'billing');

-- columns: untagged + tagged for the purpose
SELECT c.relname, array_agg(a.attname ORDER BY a.attnum) AS columns
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
 WHERE c.relname IN ('customer_marketing', 'invoice_marketing', 'invoice_billing')
 GROUP BY c.relname ORDER BY 1;

-- the independent count: the consenting customers, by hand
CREATE TEMP TABLE consenting AS
SELECT customer_id FROM customer
 WHERE (country IN ('Brazil', 'Canada', 'Germany') OR customer_id % 7 = 0) AND customer_id <> 1;
SELECT (SELECT count(*) FROM consenting) AS expected_customers,
       (SELECT count(*) FROM customer_marketing) AS view_customers,
       (SELECT count(*) FROM gdpr.consent_status WHERE purpose = 'marketing') AS status_rows;
-- exactly the same customers
SELECT count(*) AS differences FROM (
  (SELECT customer_id FROM consenting EXCEPT SELECT customer_id FROM customer_marketing)
  UNION ALL
  (SELECT customer_id FROM customer_marketing EXCEPT SELECT customer_id FROM consenting)) d;
SELECT (SELECT count(*) FROM invoice_marketing) AS view_invoices,
       (SELECT count(*) FROM invoice i JOIN consenting c USING (customer_id)) AS expected_invoices,
       (SELECT count(*) FROM invoice_line_marketing) AS view_lines,
       (SELECT count(*) FROM invoice_line l JOIN invoice i USING (invoice_id)
          JOIN consenting c USING (customer_id)) AS expected_lines,
       (SELECT count(*) FROM invoice_billing) AS billing_all,
       (SELECT count(*) FROM invoice) AS invoices_all;
SELECT round(sum(total), 2) AS view_revenue FROM invoice_marketing;
SELECT round(sum(i.total), 2) AS expected_revenue FROM invoice i JOIN consenting USING (customer_id);

-- the invoices follow the customer's consent
SELECT count(*) AS invoices_of_2 FROM invoice WHERE customer_id = 2;
SELECT count(*) AS before FROM invoice_marketing;
SELECT gdpr.withdraw_consent('customer', 2, 'marketing');
SELECT count(*) AS after_withdraw FROM invoice_marketing;
SELECT count(*) AS visible_invoices_of_2 FROM invoice_marketing WHERE customer_id = 2;
SELECT gdpr.grant_consent('customer', 2, 'marketing', 'checkbox') > 0 AS regranted;
SELECT count(*) AS after_regrant FROM invoice_marketing;

-- lookups by key use the base tables' indexes
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM invoice_marketing WHERE invoice_id = 98;
EXPLAIN (COSTS OFF) SELECT * FROM customer_marketing WHERE customer_id = 14;
RESET enable_seqscan;

-- the proof kept for every grant, and the audit trail
SELECT action, method, source, evidence, policy_version, count(*)
  FROM gdpr.consent_events GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3;
SELECT action, count(*) FROM gdpr.audit_log WHERE action LIKE 'consent.%' OR action LIKE 'view.%'
 GROUP BY 1 ORDER BY 1;

\c contrib_regression
DROP DATABASE chinook_consent;
