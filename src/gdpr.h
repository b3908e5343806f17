/*-------------------------------------------------------------------------
 *
 * gdpr.h
 *	  Shared declarations of the gdpr_crm extension: module entry points,
 *	  the extension's own catalog objects, and small utilities every
 *	  capability needs (subject keys, relation names).
 *
 * Each capability lives in its own C file and exposes an init function
 * called from _PG_init() (gdpr_crm.c).  Shared concepts have their own
 * header: tags.h (labels and the tag cache), purposes.h, audit.h,
 * consent.h, graph.h (subject graph, keep-or-anonymize plan).
 *
 *-------------------------------------------------------------------------
 */
#ifndef GDPR_H
#define GDPR_H

#include "postgres.h"
#include "fmgr.h"

#define GDPR_SCHEMA			"gdpr"
#define GDPR_PROVIDER		"gdpr"		/* security label provider name */

/* module initialisation, called once from _PG_init() */
extern void gdpr_labels_init(void);
extern void gdpr_purposes_init(void);
extern void gdpr_audit_init(void);
extern void gdpr_consent_init(void);
extern void gdpr_views_init(void);
extern void gdpr_erase_init(void);
extern void gdpr_retention_init(void);
extern void gdpr_worker_init(void);
extern void gdpr_discover_init(void);

/* true when loaded through shared_preload_libraries */
extern bool gdpr_preloaded;

/*
 * The extension's schema and tables.  Lookups are cached per backend and
 * reset on relcache invalidation (DROP/CREATE EXTENSION changes the OIDs).
 * Returns InvalidOid when the extension is not installed in this database
 * (missing_ok) or raises an error.
 */
extern Oid	gdpr_schema_oid(bool missing_ok);
extern Oid	gdpr_table_oid(const char *relname, bool missing_ok);
extern bool gdpr_extension_installed(void);

/*
 * Subject keys.  A key is accepted as any type and coerced to the type of
 * the subject table's key column through its text form, so '42', 42 and
 * 42::bigint all name the same customer.
 */
extern Datum gdpr_coerce_key(Datum key, Oid keytype, Oid targettype, int32 targettypmod);
extern char *gdpr_key_text(Datum key, Oid keytype);

/*
 * Whether an index of one of the extension's tables has an entry for the
 * keys whose heap row is visible to a fresh snapshot: a cheap probe before
 * a statement that would find nothing in the common case.  indexname must
 * be a string constant (the OIDs are cached by it).
 */
struct ScanKeyData;
extern bool gdpr_index_has_match(const char *indexname, int nkeys,
								 struct ScanKeyData *keys);

/* format('%I.%I', schema, table) of a relation, palloc'd */
extern char *gdpr_relation_name(Oid relid);

/* error unless argument n of a strict-like function is non-NULL */
#define GDPR_REQUIRE_ARG(n, what) \
	do { \
		if (PG_ARGISNULL(n)) \
			ereport(ERROR, \
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), \
					 errmsg("%s must not be NULL", (what)))); \
	} while (0)

#endif							/* GDPR_H */
