/*-------------------------------------------------------------------------
 *
 * gdpr_crm.c
 *	  Module entry point and small shared utilities.
 *
 * Everything but the retention worker works after a plain LOAD 'gdpr_crm'
 * (or session_preload_libraries); the worker needs shared_preload_libraries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "gdpr.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

bool		gdpr_preloaded = false;

/* per-backend cache of the extension's schema OID; reset on invalidation */
static Oid	cached_schema_oid = InvalidOid;

/* index and table OIDs of gdpr_index_has_match(); reset with the schema OID */
typedef struct ProbeIndex
{
	const char *name;
	Oid			indexoid;
	Oid			heapoid;
} ProbeIndex;

#define MAX_PROBE_INDEXES 4
static ProbeIndex probe_indexes[MAX_PROBE_INDEXES];
static int	n_probe_indexes = 0;

static void
gdpr_schema_inval(Datum arg, Oid relid)
{
	n_probe_indexes = 0;
	/*
	 * A DROP/CREATE EXTENSION invalidates relations (the extension's own);
	 * schema gdpr itself survives DROP EXTENSION, so any relation's
	 * invalidation resets the cache.  Cheap to recompute.
	 */
	cached_schema_oid = InvalidOid;
}

void
_PG_init(void)
{
	static bool initialized = false;

	if (initialized)
		return;
	initialized = true;

	gdpr_preloaded = process_shared_preload_libraries_in_progress;

	CacheRegisterRelcacheCallback(gdpr_schema_inval, (Datum) 0);

	gdpr_purposes_init();
	gdpr_labels_init();
	gdpr_audit_init();
	gdpr_consent_init();
	gdpr_views_init();
	gdpr_erase_init();
	gdpr_retention_init();
	gdpr_worker_init();
	gdpr_discover_init();

#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("gdpr");
#else
	EmitWarningsOnPlaceholders("gdpr");
#endif
}

/*
 * gdpr._relcache_inval(): statement-level trigger on the extension's own
 * tables (purposes, consent events, ...).  Per-backend caches built from
 * those tables register relcache callbacks; this makes every committed
 * change reach every session at its next statement, and the own session at
 * its next command.
 */
PG_FUNCTION_INFO_V1(gdpr_relcache_inval);
Datum
gdpr_relcache_inval(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("gdpr._relcache_inval() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}

Oid
gdpr_schema_oid(bool missing_ok)
{
	Oid			nspid;

	if (OidIsValid(cached_schema_oid) &&
		get_namespace_name(cached_schema_oid) != NULL)
		return cached_schema_oid;

	nspid = get_namespace_oid(GDPR_SCHEMA, true);
	if (!OidIsValid(nspid) || !OidIsValid(get_extension_oid("gdpr_crm", true)))
	{
		if (missing_ok)
			return InvalidOid;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"gdpr_crm\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION gdpr_crm CASCADE.")));
	}
	cached_schema_oid = nspid;
	return nspid;
}

bool
gdpr_extension_installed(void)
{
	return OidIsValid(gdpr_schema_oid(true));
}

Oid
gdpr_table_oid(const char *relname, bool missing_ok)
{
	Oid			nspid = gdpr_schema_oid(missing_ok);
	Oid			relid;

	if (!OidIsValid(nspid))
		return InvalidOid;
	relid = get_relname_relid(relname, nspid);
	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("gdpr_crm internal relation \"%s.%s\" is missing",
						GDPR_SCHEMA, relname),
				 errhint("Reinstall the extension: DROP EXTENSION gdpr_crm; CREATE EXTENSION gdpr_crm.")));
	return relid;
}

char *
gdpr_key_text(Datum key, Oid keytype)
{
	Oid			outfunc;
	bool		isvarlena;

	getTypeOutputInfo(keytype, &outfunc, &isvarlena);
	return OidOutputFunctionCall(outfunc, key);
}

Datum
gdpr_coerce_key(Datum key, Oid keytype, Oid targettype, int32 targettypmod)
{
	Oid			infunc;
	Oid			ioparam;
	char	   *text;

	if (keytype == targettype)
		return key;
	/* unknown literals ('42') arrive as cstring-compatible unknown */
	text = gdpr_key_text(key, keytype);
	getTypeInputInfo(targettype, &infunc, &ioparam);
	return OidInputFunctionCall(infunc, text, ioparam, targettypmod);
}

char *
gdpr_relation_name(Oid relid)
{
	char	   *relname = get_rel_name(relid);
	char	   *nspname;

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	nspname = get_namespace_name(get_rel_namespace(relid));
	return quote_qualified_identifier(nspname, relname);
}

bool
gdpr_index_has_match(const char *indexname, int nkeys, struct ScanKeyData *keys)
{
	Oid			indexoid = InvalidOid;
	Oid			heapoid = InvalidOid;
	Relation	index;
	Relation	heap;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snapshot;
	bool		found;

	for (int i = 0; i < n_probe_indexes; i++)
		if (strcmp(probe_indexes[i].name, indexname) == 0)
		{
			indexoid = probe_indexes[i].indexoid;
			heapoid = probe_indexes[i].heapoid;
		}
	if (!OidIsValid(indexoid))
	{
		indexoid = gdpr_table_oid(indexname, true);
		if (!OidIsValid(indexoid))
			return false;
		heapoid = IndexGetRelation(indexoid, false);
		if (n_probe_indexes < MAX_PROBE_INDEXES)
		{
			probe_indexes[n_probe_indexes].name = indexname;
			probe_indexes[n_probe_indexes].indexoid = indexoid;
			probe_indexes[n_probe_indexes].heapoid = heapoid;
			n_probe_indexes++;
		}
	}
	heap = table_open(heapoid, AccessShareLock);
	index = index_open(indexoid, AccessShareLock);
	for (int i = 0; i < nkeys; i++)
		keys[i].sk_collation = index->rd_indcollation[keys[i].sk_attno - 1];

	/* what the next statement of a read committed transaction would see */
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	slot = table_slot_create(heap, NULL);
	scan = index_beginscan(heap, index, snapshot, nkeys, 0);
	index_rescan(scan, keys, nkeys, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);

	index_close(index, NoLock);
	table_close(heap, NoLock);
	return found;
}
