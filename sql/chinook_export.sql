-- Export on Chinook: a customer's export holds exactly their invoices and
-- invoice lines (counted independently with plain joins), and no other
-- customer's or employee's rows.
CREATE DATABASE chinook_export TEMPLATE chinook_tpl;
\c chinook_export
SELECT gdpr.define_purpose('sales', 'contract', NULL, 'Selling music');
SELECT gdpr.define_purpose('bookkeeping', 'legal_obligation', '7 years', 'Tax records');
SECURITY LABEL FOR gdpr ON TABLE customer IS 'SUBJECT KEY (customer_id)';
SECURITY LABEL FOR gdpr ON TABLE employee IS 'SUBJECT KEY (employee_id)';
SECURITY LABEL FOR gdpr ON COLUMN customer.first_name IS 'PURPOSE sales, bookkeeping CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN customer.last_name IS 'PURPOSE sales, bookkeeping CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN customer.email IS 'PURPOSE sales CATEGORY contact.email';
SECURITY LABEL FOR gdpr ON COLUMN customer.phone IS 'PURPOSE sales CATEGORY contact.phone';
SECURITY LABEL FOR gdpr ON COLUMN customer.address IS 'PURPOSE sales CATEGORY contact.address';
SECURITY LABEL FOR gdpr ON COLUMN employee.email IS 'PURPOSE sales CATEGORY contact.email';
SECURITY LABEL FOR gdpr ON TABLE invoice IS 'RETAIN FROM invoice_date';
SECURITY LABEL FOR gdpr ON COLUMN invoice.billing_address IS 'PURPOSE bookkeeping CATEGORY contact.address';
SECURITY LABEL FOR gdpr ON COLUMN invoice.total IS 'PURPOSE bookkeeping CATEGORY financial';

-- every customer: the export's invoices and lines are exactly theirs
CREATE TEMP TABLE ex AS
SELECT c.customer_id, gdpr.export_subject('public.customer', c.customer_id) AS e FROM customer c;
SELECT count(*) AS customers,
       count(*) FILTER (WHERE
           (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(e->'data') k)
           = '{public.customer,public.invoice,public.invoice_line}') AS exactly_three_relations,
       count(*) FILTER (WHERE
           (SELECT array_agg((r->>'invoice_id')::int ORDER BY (r->>'invoice_id')::int)
              FROM jsonb_array_elements(e->'data'->'public.invoice') r)
           = (SELECT array_agg(i.invoice_id ORDER BY i.invoice_id) FROM invoice i
               WHERE i.customer_id = ex.customer_id)) AS same_invoices,
       count(*) FILTER (WHERE
           (SELECT array_agg((r->>'invoice_line_id')::int ORDER BY (r->>'invoice_line_id')::int)
              FROM jsonb_array_elements(e->'data'->'public.invoice_line') r)
           = (SELECT array_agg(l.invoice_line_id ORDER BY l.invoice_line_id)
                FROM invoice_line l JOIN invoice i USING (invoice_id)
               WHERE i.customer_id = ex.customer_id)) AS same_lines,
       count(*) FILTER (WHERE jsonb_array_length(e->'data'->'public.customer') = 1
                          AND (e->'data'->'public.customer'->0->>'customer_id')::int = customer_id) AS own_row
  FROM ex;
-- one customer in numbers
SELECT jsonb_array_length(e->'data'->'public.invoice') AS export_invoices,
       (SELECT count(*) FROM invoice WHERE customer_id = 17) AS sql_invoices,
       jsonb_array_length(e->'data'->'public.invoice_line') AS export_lines,
       (SELECT count(*) FROM invoice_line l JOIN invoice i USING (invoice_id) WHERE i.customer_id = 17) AS sql_lines,
       (SELECT sum((r->>'total')::numeric) FROM jsonb_array_elements(e->'data'->'public.invoice') r) AS export_total,
       (SELECT sum(total) FROM invoice WHERE customer_id = 17) AS sql_total
  FROM ex WHERE customer_id = 17;
SELECT e->'purposes' AS purposes, e->'categories' AS categories, e->'retention' AS retention,
       e->'columns'->'public.invoice' AS invoice_columns
  FROM ex WHERE customer_id = 17;
-- a breach of the invoice lines reaches the customers who bought something
SELECT gdpr.estimate_affected_subjects('{invoice_line}') AS estimate,
       (SELECT count(DISTINCT i.customer_id) FROM invoice_line l JOIN invoice i USING (invoice_id)) AS plain_sql;
SELECT gdpr.estimate_affected_subjects('{customer}', '{contact.phone}') AS with_phone,
       (SELECT count(*) FROM customer WHERE phone IS NOT NULL) AS plain_sql;
SELECT purpose, subject_categories, data_categories, relations FROM gdpr.processing_register ORDER BY purpose;
-- every export was audited
SELECT count(*) AS export_entries FROM gdpr.audit_log WHERE action = 'export';

\c contrib_regression
DROP DATABASE chinook_export;
