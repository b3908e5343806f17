-- gdpr_crm demo, part 0: a Dutch webshop ("winkel") with a few thousand
-- realistic, generated rows.  Deterministic (setseed); dates are relative to
-- today, spread over the last 9 years, so retention has something to do.
-- The following demo files build on this schema.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\echo
\echo '=== 00 webshop: schema winkel (klanten, adressen, bestellingen, facturen, ...) ==='
CREATE EXTENSION IF NOT EXISTS gdpr_crm CASCADE;
DROP SCHEMA IF EXISTS winkel CASCADE;
CREATE SCHEMA winkel;

CREATE TABLE winkel.adressen (
    adres_id    serial PRIMARY KEY,
    straat      text NOT NULL,
    huisnummer  text NOT NULL,
    postcode    text NOT NULL CHECK (postcode ~ '^[1-9][0-9]{3} [A-Z]{2}$'),
    woonplaats  text NOT NULL,
    land        text NOT NULL DEFAULT 'Nederland'
);

CREATE TABLE winkel.klanten (
    klant_id         serial PRIMARY KEY,
    voornaam         text NOT NULL,
    achternaam       text NOT NULL,
    email            text NOT NULL,
    telefoon         text,
    geboortedatum    date,
    adres_id         int REFERENCES winkel.adressen,
    aangebracht_door int REFERENCES winkel.klanten,
    aangemaakt_op    timestamptz NOT NULL,
    laatst_actief    timestamptz NOT NULL
);

CREATE TABLE winkel.bestellingen (
    bestelling_id  serial PRIMARY KEY,
    klant_id       int NOT NULL REFERENCES winkel.klanten,
    besteld_op     timestamptz NOT NULL,
    totaal         numeric(10,2) NOT NULL DEFAULT 0,
    bezorgadres_id int REFERENCES winkel.adressen
);

CREATE TABLE winkel.bestelregels (
    bestelling_id int NOT NULL REFERENCES winkel.bestellingen,
    regelnr       int NOT NULL,
    product       text NOT NULL,
    aantal        int NOT NULL CHECK (aantal > 0),
    prijs         numeric(10,2) NOT NULL,
    PRIMARY KEY (bestelling_id, regelnr)
);

CREATE TABLE winkel.facturen (
    factuur_id      serial PRIMARY KEY,
    -- the order number as printed on the invoice; deliberately no foreign key:
    -- the tax office needs the invoice, not the order behind it
    bestelling_id   int NOT NULL,
    klant_id        int NOT NULL REFERENCES winkel.klanten,
    factuurdatum    date NOT NULL,
    bedrag          numeric(10,2) NOT NULL,
    naam_op_factuur text NOT NULL,
    factuuradres    text NOT NULL
);

CREATE TABLE winkel.nieuwsbrief_inschrijvingen (
    inschrijving_id serial PRIMARY KEY,
    klant_id        int NOT NULL REFERENCES winkel.klanten,
    email           text NOT NULL,
    ingeschreven_op timestamptz NOT NULL
);

CREATE TABLE winkel.websitebezoeken (
    bezoek_id  serial PRIMARY KEY,
    klant_id   int REFERENCES winkel.klanten,
    ip_adres   inet,
    bezocht_op timestamptz NOT NULL,
    pagina     text NOT NULL
);

CREATE INDEX ON winkel.klanten (adres_id);
CREATE INDEX ON winkel.klanten (aangebracht_door);
CREATE INDEX ON winkel.bestellingen (klant_id);
CREATE INDEX ON winkel.bestellingen (bezorgadres_id);
CREATE INDEX ON winkel.facturen (klant_id);
CREATE INDEX ON winkel.facturen (bestelling_id);
CREATE INDEX ON winkel.nieuwsbrief_inschrijvingen (klant_id);
CREATE INDEX ON winkel.websitebezoeken (klant_id);

\echo '--- generating data (deterministic) ---'
SELECT setseed(0.20160525);  -- the day the GDPR entered into force

-- Word lists.  Cities with a realistic range of 4-digit postcodes.
CREATE TEMP TABLE voornamen AS
SELECT row_number() OVER () AS i, v FROM unnest(ARRAY[
 'Jan','Piet','Kees','Henk','Willem','Johan','Gerrit','Sander','Thijs','Daan','Bram','Lars',
 'Ruben','Jeroen','Bas','Maarten','Niels','Tim','Sven','Joost','Pieter','Wouter','Stijn','Koen',
 'Anna','Emma','Sanne','Lotte','Fleur','Anouk','Iris','Femke','Marieke','Ingrid','Els','Petra',
 'Sophie','Julia','Lieke','Eva','Noor','Saskia','Annelies','Mirjam','Yvonne','Esther','Mohammed',
 'Fatima','Youssef','Aylin','Emre','Priya','Dewi','Kevin','Lisa','Tess','Sem','Milan'
]) v;
CREATE TEMP TABLE achternamen AS
SELECT row_number() OVER () AS i, a FROM unnest(ARRAY[
 'de Jong','Jansen','de Vries','van den Berg','van Dijk','Bakker','Janssen','Visser','Smit',
 'Meijer','de Boer','Mulder','de Groot','Bos','Vos','Peters','Hendriks','van Leeuwen','Dekker',
 'Brouwer','de Wit','Dijkstra','Smits','de Graaf','van der Meer','van der Linden','Kok',
 'Jacobs','de Haan','Vermeulen','van den Heuvel','van der Veen','van den Broek','de Bruijn',
 'de Bruin','van der Heijden','Schouten','van Beek','Willems','van Vliet','Hoekstra','Maas',
 'Verhoeven','Koster','van Dam','Prins','Kuipers','Yilmaz','El Amrani','Sedney','Wijaya'
]) a;
CREATE TEMP TABLE straten AS
SELECT row_number() OVER () AS i, s FROM unnest(ARRAY[
 'Kerkstraat','Schoolstraat','Dorpsstraat','Molenweg','Stationsweg','Julianastraat',
 'Beatrixlaan','Wilhelminastraat','Prinsengracht','Keizersgracht','Herengracht','Marktplein',
 'Lindelaan','Eikenlaan','Beukenlaan','Kastanjelaan','Parkweg','Nieuwstraat','Hoofdstraat',
 'Burgemeester de Withstraat','Oranjestraat','Emmastraat','Sportlaan','Vondelstraat',
 'Rembrandtlaan','Van Goghstraat','Tulpstraat','Rozenstraat','Zeeweg','Havenstraat'
]) s;
CREATE TEMP TABLE plaatsen (i int, plaats text, pc_van int, pc_tot int);
INSERT INTO plaatsen VALUES
 (1,'Amsterdam',1011,1109),(2,'Rotterdam',3011,3089),(3,'Den Haag',2491,2599),
 (4,'Utrecht',3511,3585),(5,'Eindhoven',5611,5658),(6,'Groningen',9711,9747),
 (7,'Tilburg',5011,5049),(8,'Almere',1311,1365),(9,'Breda',4811,4839),
 (10,'Nijmegen',6511,6546),(11,'Haarlem',2011,2037),(12,'Arnhem',6811,6846),
 (13,'Zwolle',8011,8048),(14,'Leiden',2311,2334),(15,'Maastricht',6211,6229),
 (16,'Apeldoorn',7311,7339),(17,'Amersfoort',3811,3829),(18,'Enschede',7511,7548),
 (19,'Delft',2611,2629),(20,'Deventer',7411,7431);
CREATE TEMP TABLE producten AS
SELECT row_number() OVER () AS i, p, prijs FROM (VALUES
 ('Stroopwafels (10 stuks)',3.49),('Hagelslag puur 400g',2.79),('Drop mix 500g',4.25),
 ('Delfts blauw mok',12.95),('Fietsbel chroom',8.50),('Regenjas unisex',49.95),
 ('Klompen maat 42',29.95),('Tulpenbollen (25)',9.95),('Kaasschaaf',14.50),
 ('Oude Goudse kaas 1kg',18.90),('Speculaas 400g',3.15),('Thermosfles 1L',21.00),
 ('Wollen sjaal',24.95),('Bordspel Carcassonne',32.50),('Puzzel 1000 st. Amsterdam',17.95),
 ('Koffiebonen 1kg',15.49),('Theedoek set (3)',11.25),('Paraplu stormvast',27.50),
 ('Fietstas waterdicht',39.95),('Kerstpakket klein',45.00),('Boek: Nederland in kaart',22.99),
 ('Snoeischaar',19.95),('Zonnebril',34.00),('Hondenriem',13.75),('Kinderfiets 16 inch',189.00)
) v(p, prijs);

-- Addresses: one per customer, plus some extra delivery addresses (gifts)
INSERT INTO winkel.adressen (straat, huisnummer, postcode, woonplaats)
SELECT s.s,
       (1 + floor(random() * 180))::int ||
           CASE WHEN random() < 0.12 THEN (ARRAY['A','B','bis','-1','-2','H'])[1 + floor(random() * 6)::int] ELSE '' END,
       (pl.pc_van + floor(random() * (pl.pc_tot - pl.pc_van + 1)))::int || ' ' ||
           substr('ABCDEGHJKLMNPRSTVWXZ', 1 + floor(random() * 20)::int, 1) ||
           substr('ABCDEGHJKLMNPRSTVWXZ', 1 + floor(random() * 20)::int, 1),
       pl.plaats
  FROM (SELECT g, 1 + floor(random() * 30)::int AS si, 1 + floor(random() * 20)::int AS pi
          FROM generate_series(1, 2300) g) r
  JOIN straten s ON s.i = r.si
  JOIN plaatsen pl ON pl.i = r.pi
 ORDER BY r.g;

-- Customers: signed up over the last 9 years; some referred by an earlier one
INSERT INTO winkel.klanten (voornaam, achternaam, email, telefoon, geboortedatum, adres_id,
                            aangebracht_door, aangemaakt_op, laatst_actief)
SELECT v.v, a.a,
       lower(translate(
           CASE r.emailvorm
               WHEN 0 THEN v.v || '.' || a.a
               WHEN 1 THEN left(v.v, 1) || '.' || a.a || r.g
               ELSE v.v || a.a || (r.g % 97)
           END, ' ''', '')) || '@' ||
           (ARRAY['gmail.com','hotmail.com','ziggo.nl','kpnmail.nl','outlook.com','live.nl',
                  'xs4all.nl','planet.nl','home.nl','icloud.com'])[1 + floor(random() * 10)::int],
       '+31 6 ' || lpad(floor(random() * 10000)::int::text, 4, '0') || ' ' ||
           lpad(floor(random() * 10000)::int::text, 4, '0'),
       date '1945-01-01' + floor(random() * (date '2006-12-31' - date '1945-01-01'))::int,
       r.g,
       NULL,
       r.aangemaakt,
       r.aangemaakt + random() * (now() - r.aangemaakt)
  FROM (SELECT g,
               1 + floor(random() * 58)::int AS vi,
               1 + floor(random() * 51)::int AS ai,
               floor(random() * 3)::int AS emailvorm,
               date_trunc('minute', now() - interval '9 years' * (1 - g / 2100.0) * (0.98 + random() * 0.02)) AS aangemaakt
          FROM generate_series(1, 2000) g) r
  JOIN voornamen v ON v.i = r.vi
  JOIN achternamen a ON a.i = r.ai
 ORDER BY r.g;
-- about 15% were referred by a customer who joined earlier (self reference)
UPDATE winkel.klanten k
   SET aangebracht_door = 1 + floor(random() * (k.klant_id - 1))::int
 WHERE k.klant_id > 10 AND random() < 0.15;

-- Orders between sign-up and last activity; 10% delivered elsewhere
INSERT INTO winkel.bestellingen (klant_id, besteld_op, bezorgadres_id)
SELECT k.klant_id,
       date_trunc('second', k.aangemaakt_op + random() * (k.laatst_actief - k.aangemaakt_op)),
       CASE WHEN random() < 0.10 THEN 2001 + floor(random() * 300)::int ELSE k.adres_id END
  FROM (SELECT 1 + floor(random() * 2000)::int AS kid FROM generate_series(1, 6000)) r
  JOIN winkel.klanten k ON k.klant_id = r.kid
 ORDER BY k.aangemaakt_op, r.kid;

-- 1 to 4 lines per order
INSERT INTO winkel.bestelregels (bestelling_id, regelnr, product, aantal, prijs)
SELECT b.bestelling_id, n, p.p, 1 + floor(random() * random() * 4)::int, p.prijs
  FROM winkel.bestellingen b
  CROSS JOIN LATERAL generate_series(1, 1 + (b.bestelling_id * 7 % 4)) n
  JOIN producten p ON p.i = 1 + (b.bestelling_id * 13 + n * 5) % 25
 ORDER BY b.bestelling_id, n;
UPDATE winkel.bestellingen b
   SET totaal = s.totaal
  FROM (SELECT bestelling_id, sum(aantal * prijs) AS totaal
          FROM winkel.bestelregels GROUP BY bestelling_id) s
 WHERE s.bestelling_id = b.bestelling_id;

-- One invoice per order, with the name and address as they were then
INSERT INTO winkel.facturen (bestelling_id, klant_id, factuurdatum, bedrag, naam_op_factuur, factuuradres)
SELECT b.bestelling_id, b.klant_id, b.besteld_op::date, b.totaal,
       k.voornaam || ' ' || k.achternaam,
       a.straat || ' ' || a.huisnummer || ', ' || a.postcode || ' ' || a.woonplaats
  FROM winkel.bestellingen b
  JOIN winkel.klanten k USING (klant_id)
  JOIN winkel.adressen a ON a.adres_id = k.adres_id
 ORDER BY b.bestelling_id;

-- About a third subscribed to the newsletter
INSERT INTO winkel.nieuwsbrief_inschrijvingen (klant_id, email, ingeschreven_op)
SELECT k.klant_id, k.email,
       date_trunc('second', k.aangemaakt_op + random() * (k.laatst_actief - k.aangemaakt_op))
  FROM winkel.klanten k
 WHERE random() < 0.35
 ORDER BY k.klant_id;

-- Website visits of the last two years (a quarter anonymous)
INSERT INTO winkel.websitebezoeken (klant_id, ip_adres, bezocht_op, pagina)
SELECT CASE WHEN random() < 0.25 THEN NULL ELSE 1 + floor(random() * 2000)::int END,
       ((ARRAY[77, 84, 85, 145, 212, 217, 62, 31])[1 + floor(random() * 8)::int] || '.' ||
        floor(random() * 256)::int || '.' || floor(random() * 256)::int || '.' ||
        (1 + floor(random() * 254)::int))::inet,
       date_trunc('second', now() - random() * interval '2 years'),
       (ARRAY['/','/aanbiedingen','/winkelwagen','/afrekenen','/account','/zoeken?q=kaas',
              '/product/stroopwafels','/product/fietstas','/klantenservice','/nieuwsbrief'])
           [1 + floor(random() * 10)::int]
  FROM generate_series(1, 10000) g
 ORDER BY g;

ANALYZE winkel.adressen, winkel.klanten, winkel.bestellingen, winkel.bestelregels,
        winkel.facturen, winkel.nieuwsbrief_inschrijvingen, winkel.websitebezoeken;

\echo '--- rows per table ---'
SELECT 'adressen' AS tabel, count(*) AS rijen FROM winkel.adressen
UNION ALL SELECT 'klanten', count(*) FROM winkel.klanten
UNION ALL SELECT 'bestellingen', count(*) FROM winkel.bestellingen
UNION ALL SELECT 'bestelregels', count(*) FROM winkel.bestelregels
UNION ALL SELECT 'facturen', count(*) FROM winkel.facturen
UNION ALL SELECT 'nieuwsbrief_inschrijvingen', count(*) FROM winkel.nieuwsbrief_inschrijvingen
UNION ALL SELECT 'websitebezoeken', count(*) FROM winkel.websitebezoeken;

\echo '--- a few customers ---'
SELECT k.klant_id, k.voornaam, k.achternaam, k.email, k.telefoon, a.postcode, a.woonplaats,
       k.aangemaakt_op::date AS sinds, k.laatst_actief::date AS actief
  FROM winkel.klanten k JOIN winkel.adressen a USING (adres_id)
 ORDER BY k.klant_id LIMIT 5;

\echo '--- invoices per year (the 7-year fiscal retention will matter) ---'
SELECT extract(year FROM factuurdatum)::int AS jaar, count(*) AS facturen, sum(bedrag) AS omzet
  FROM winkel.facturen GROUP BY 1 ORDER BY 1;

DROP TABLE voornamen, achternamen, straten, plaatsen, producten;
