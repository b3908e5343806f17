-- Tag all personal columns of Chinook (customer, employee, invoice billing
-- address) in a database of our own, and check that gdpr.column_tags and
-- gdpr.subject_tables report exactly them.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE DATABASE chinook_tags TEMPLATE chinook_tpl;
\c chinook_tags
SET client_min_messages = warning;

SELECT gdpr.define_purpose('sales', 'contract', NULL, 'Selling and delivering music');
SELECT gdpr.define_purpose('accounting', 'legal_obligation', '7 years', 'Bookkeeping (tax law)');
SELECT gdpr.define_purpose('support', 'contract', '2 years', 'Customer support');
SELECT gdpr.define_purpose('marketing', 'consent', '2 years', 'Newsletter', '2 years');
SELECT gdpr.define_purpose('hr', 'legal_obligation', '7 years', 'Personnel administration');

-- subject tables
SECURITY LABEL FOR gdpr ON TABLE customer IS 'SUBJECT KEY (customer_id)';
SELECT gdpr.register_subject_table('employee', 'employee_id');
SECURITY LABEL FOR gdpr ON TABLE invoice IS 'RETAIN FROM invoice_date';

-- customer
SECURITY LABEL FOR gdpr ON COLUMN customer.first_name IS 'PURPOSE sales, accounting, support CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN customer.last_name IS 'PURPOSE sales, accounting, support CATEGORY name';
SECURITY LABEL FOR gdpr ON COLUMN customer.company IS 'PURPOSE sales, accounting CATEGORY other';
SELECT gdpr.tag_column('customer', c, '{sales,accounting}', 'contact.address')
  FROM unnest('{address,city,state,country,postal_code}'::name[]) c;
SELECT gdpr.tag_column('customer', c, '{sales,support}', 'contact.phone')
  FROM unnest('{phone,fax}'::name[]) c;
SECURITY LABEL FOR gdpr ON COLUMN customer.email IS 'PURPOSE sales, support, marketing CATEGORY contact.email';

-- employee
SELECT gdpr.tag_column('employee', c, '{hr}', 'name') FROM unnest('{first_name,last_name}'::name[]) c;
SELECT gdpr.tag_column('employee', 'title', '{hr}', 'other');
SELECT gdpr.tag_column('employee', 'birth_date', '{hr}', 'demographic');
SELECT gdpr.tag_column('employee', 'hire_date', '{hr}', 'other');
SELECT gdpr.tag_column('employee', c, '{hr}', 'contact.address')
  FROM unnest('{address,city,state,country,postal_code}'::name[]) c;
SELECT gdpr.tag_column('employee', c, '{hr}', 'contact.phone') FROM unnest('{phone,fax}'::name[]) c;
SELECT gdpr.tag_column('employee', 'email', '{hr}', 'contact.email');

-- invoice: the billing address
SELECT gdpr.tag_column('invoice', c, '{accounting}', 'contact.address')
  FROM unnest('{billing_address,billing_city,billing_state,billing_country,billing_postal_code}'::name[]) c;

-- a bad label on the real schema
SECURITY LABEL FOR gdpr ON TABLE invoice IS 'RETAIN FROM billing_city';
SECURITY LABEL FOR gdpr ON COLUMN track.composer IS 'PURPOSE royalties';

-- the views report exactly these columns
SELECT relation, count(*) FROM gdpr.column_tags GROUP BY 1 ORDER BY relation::text;
SELECT count(*) AS tagged_columns FROM gdpr.column_tags;
WITH expected(relation, column_name) AS (
    SELECT 'customer'::regclass, c::name
      FROM unnest('{first_name,last_name,company,address,city,state,country,postal_code,phone,fax,email}'::text[]) c
    UNION ALL
    SELECT 'employee'::regclass, c::name
      FROM unnest('{last_name,first_name,title,birth_date,hire_date,address,city,state,country,postal_code,phone,fax,email}'::text[]) c
    UNION ALL
    SELECT 'invoice'::regclass, c::name
      FROM unnest('{billing_address,billing_city,billing_state,billing_country,billing_postal_code}'::text[]) c
)
SELECT 'missing' AS problem, * FROM (SELECT * FROM expected EXCEPT SELECT relation, column_name FROM gdpr.column_tags) m
UNION ALL
SELECT 'unexpected', * FROM (SELECT relation, column_name FROM gdpr.column_tags EXCEPT SELECT * FROM expected) u;
SELECT relation, column_name, purposes, category FROM gdpr.column_tags
 ORDER BY relation::text, column_name;
SELECT * FROM gdpr.subject_tables ORDER BY relation::text;
SELECT relation, subject_key, retain_from, belongs_to FROM gdpr.table_labels ORDER BY relation::text;
-- per category, and the purposes in use
SELECT category, count(*) FROM gdpr.column_tags GROUP BY 1 ORDER BY 1;
SELECT p, count(*) FROM gdpr.column_tags, unnest(purposes) p GROUP BY 1 ORDER BY 1;
-- the C tag cache agrees with the view for every table
SELECT c.relname,
       (SELECT count(*) FROM gdpr._table_tags(c.oid)) AS cached,
       (SELECT count(*) FROM gdpr.column_tags t WHERE t.relation = c.oid) AS in_view
  FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
 ORDER BY 1;
-- purposes in use cannot be dropped; marketing only by customer.email
SELECT gdpr.drop_purpose('marketing');
SELECT gdpr.tag_column('customer', 'email', '{sales,support}', 'contact.email');
SELECT gdpr.drop_purpose('marketing');

\c contrib_regression
DROP DATABASE chinook_tags;
