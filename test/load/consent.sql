-- consent granted or withdrawn on a stable customer
\set k random(:n + 1, :n + :s)
\set g random(0, 1)
INSERT INTO load.ledger (kind, n)
SELECT 'consent', CASE WHEN :g = 1
                       THEN (gdpr.grant_consent('load.klant', :k, 'ld_nieuws', 'checkbox') IS NOT NULL)::int
                       ELSE gdpr.withdraw_consent('load.klant', :k, 'ld_nieuws')::int END;
