-- Generated CRM for the benchmarks: :n customers (psql variable, default 10000)
-- with addresses, orders, order lines and invoices.  Deterministic (setseed).
-- Schema crm; other benchmarks add their own tables and tags on top.
\if :{?n}
\else
\set n 10000
\endif
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS crm CASCADE;
CREATE SCHEMA crm;
SELECT setseed(0.42) AS seed \gset

CREATE TABLE crm.addresses (
    address_id  bigserial PRIMARY KEY,
    street      text NOT NULL,
    house_no    int NOT NULL,
    postcode    text NOT NULL,
    city        text NOT NULL,
    country     char(2) NOT NULL DEFAULT 'NL'
);
CREATE TABLE crm.customers (
    customer_id bigserial PRIMARY KEY,
    first_name  text NOT NULL,
    last_name   text NOT NULL,
    email       text,
    phone       text,
    birth_date  date,
    address_id  bigint REFERENCES crm.addresses,
    referred_by bigint REFERENCES crm.customers,
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_active timestamptz
);
CREATE TABLE crm.orders (
    order_id    bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES crm.customers,
    ordered_at  timestamptz NOT NULL,
    total       numeric(12, 2) NOT NULL,
    delivery_address_id bigint REFERENCES crm.addresses
);
CREATE TABLE crm.order_lines (
    order_id    bigint NOT NULL REFERENCES crm.orders,
    line_no     int NOT NULL,
    product     text NOT NULL,
    quantity    int NOT NULL,
    price       numeric(10, 2) NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
CREATE TABLE crm.invoices (
    invoice_id  bigserial PRIMARY KEY,
    order_id    bigint NOT NULL REFERENCES crm.orders,
    customer_id bigint NOT NULL REFERENCES crm.customers,
    invoice_date date NOT NULL,
    amount      numeric(12, 2) NOT NULL,
    name_on_invoice text NOT NULL,
    invoice_address text
);

INSERT INTO crm.addresses (street, house_no, postcode, city)
SELECT (ARRAY['Kerkstraat', 'Dorpsstraat', 'Schoolstraat', 'Molenweg', 'Stationsweg', 'Julianastraat'])[1 + (g % 6)],
       1 + (g * 7) % 180,
       lpad((1000 + g % 8999)::text, 4, '0') || ' ' || chr(65 + g % 26) || chr(65 + (g / 26) % 26),
       (ARRAY['Amsterdam', 'Rotterdam', 'Utrecht', 'Zwolle', 'Groningen', 'Eindhoven', 'Maastricht'])[1 + (g % 7)]
  FROM generate_series(1, :n) g;

INSERT INTO crm.customers (first_name, last_name, email, phone, birth_date, address_id, referred_by, created_at, last_active)
SELECT (ARRAY['Jan', 'Anna', 'Pieter', 'Sanne', 'Daan', 'Emma', 'Lucas', 'Julia', 'Sem', 'Tess'])[1 + (g % 10)],
       (ARRAY['de Jong', 'Jansen', 'de Vries', 'van den Berg', 'van Dijk', 'Bakker', 'Janssen', 'Visser'])[1 + (g % 8)],
       'klant' || g || '@example.nl',
       '06' || lpad((g * 7919 % 100000000)::text, 8, '0'),
       date '1950-01-01' + (g * 37 % 20000),
       g,
       NULL,
       now() - (g % 3650) * interval '1 day',
       now() - (g % 400) * interval '1 day'
  FROM generate_series(1, :n) g;
-- one in ten was referred by an earlier customer (self reference)
UPDATE crm.customers SET referred_by = customer_id - 1 - (customer_id % 7)
 WHERE customer_id % 10 = 0 AND customer_id > 10;

-- about three orders per customer, two to four lines each, one invoice per order
INSERT INTO crm.orders (customer_id, ordered_at, total, delivery_address_id)
SELECT 1 + (g % :n), now() - (g % 2500) * interval '1 day', 0, 1 + (g % :n)
  FROM generate_series(1, 3 * :n) g;
INSERT INTO crm.order_lines (order_id, line_no, product, quantity, price)
SELECT o.order_id, l, (ARRAY['fiets', 'bel', 'slot', 'lamp', 'zadel', 'band', 'pomp'])[1 + ((o.order_id + l) % 7)],
       1 + (o.order_id * l) % 3, round((5 + (o.order_id * 13 + l * 7) % 200)::numeric, 2)
  FROM crm.orders o, generate_series(1, 2 + (o.order_id % 3)::int) l;
UPDATE crm.orders o SET total = s.total
  FROM (SELECT order_id, sum(quantity * price) AS total FROM crm.order_lines GROUP BY order_id) s
 WHERE s.order_id = o.order_id;
INSERT INTO crm.invoices (order_id, customer_id, invoice_date, amount, name_on_invoice, invoice_address)
SELECT o.order_id, o.customer_id, o.ordered_at::date, o.total, c.first_name || ' ' || c.last_name,
       a.street || ' ' || a.house_no || ', ' || a.city
  FROM crm.orders o JOIN crm.customers c USING (customer_id) JOIN crm.addresses a ON a.address_id = c.address_id;

ANALYZE crm.addresses, crm.customers, crm.orders, crm.order_lines, crm.invoices;
SELECT 'crm: ' || (SELECT count(*) FROM crm.customers) || ' customers, '
       || (SELECT count(*) FROM crm.orders) || ' orders, '
       || (SELECT count(*) FROM crm.order_lines) || ' order lines, '
       || (SELECT count(*) FROM crm.invoices) || ' invoices' AS generated;
