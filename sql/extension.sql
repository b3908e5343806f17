-- The extension installs into schema gdpr, needs pgcrypto, is not relocatable.
SELECT extname, extversion, extrelocatable, extnamespace::regnamespace
  FROM pg_extension WHERE extname IN ('gdpr_crm', 'pgcrypto') ORDER BY 1;
-- the library is preloaded in the test cluster
SHOW shared_preload_libraries;
