/*-------------------------------------------------------------------------
 *
 * purposes.c
 *	  The purpose registry (API section 1): a per-backend cache of table
 *	  gdpr.purpose, and the audit helper the SQL functions of the registry
 *	  (src/sql/10_purposes.sql) call.
 *
 * The cache is a hash table keyed by purpose name, in a memory context of
 * its own under CacheMemoryContext.  A statement trigger on gdpr.purpose
 * (gdpr._relcache_inval) sends a relcache invalidation for the table on
 * every change; our relcache callback only marks the cache stale, and the
 * next lookup rebuilds it (in a fresh context, dropping the old one), so
 * the callback never does catalog access and a lookup never sees a half
 * built cache.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "gdpr.h"
#include "audit.h"
#include "purposes.h"

static const char *const basis_names[] = {
	"consent",
	"contract",
	"legal_obligation",
	"vital_interests",
	"public_task",
	"legitimate_interests",
	NULL
};

static MemoryContext purpose_cxt = NULL;
static HTAB *purpose_hash = NULL;
static List *purpose_names = NIL;	/* sorted names, in purpose_cxt */
static bool purpose_valid = false;
static Oid	purpose_relid = InvalidOid;

static void
purpose_inval_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == purpose_relid)
		purpose_valid = false;
}

void
gdpr_purposes_init(void)
{
	CacheRegisterRelcacheCallback(purpose_inval_callback, (Datum) 0);
}

const char *
gdpr_basis_name(GdprLegalBasis basis)
{
	if ((int) basis < 0 || (int) basis >= (int) lengthof(basis_names) - 1)
		elog(ERROR, "invalid legal basis %d", (int) basis);
	return basis_names[basis];
}

bool
gdpr_parse_basis(const char *name, GdprLegalBasis *basis)
{
	int			i;

	for (i = 0; basis_names[i] != NULL; i++)
	{
		if (strcmp(basis_names[i], name) == 0)
		{
			*basis = (GdprLegalBasis) i;
			return true;
		}
	}
	return false;
}

/*
 * (Re)build the cache from gdpr.purpose.  Leaves the cache empty (and
 * stale, so it is retried) when the extension is not installed.
 */
static void
purpose_cache_build(void)
{
	MemoryContext newcxt;
	MemoryContext oldcxt;
	HASHCTL		ctl;
	HTAB	   *newhash;
	List	   *names = NIL;
	Oid			relid;
	uint64		i;

	relid = gdpr_table_oid("purpose", true);

	newcxt = AllocSetContextCreate(CacheMemoryContext, "gdpr purpose cache",
								   ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(GdprPurpose);
	ctl.hcxt = newcxt;
	newhash = hash_create("gdpr purposes", 32, &ctl,
						  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	/* mark valid before reading: an invalidation during the read wins */
	purpose_relid = relid;
	purpose_valid = OidIsValid(relid);

	if (OidIsValid(relid))
	{
		int			ret;
		bool		pushed = false;

		/* callers outside a query (a background worker) have no snapshot */
		if (!ActiveSnapshotSet())
		{
			PushActiveSnapshot(GetTransactionSnapshot());
			pushed = true;
		}
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		ret = SPI_execute("SELECT name, legal_basis, retention, consent_valid_for "
						  "FROM gdpr.purpose ORDER BY name", true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "reading gdpr.purpose failed: %s",
				 SPI_result_code_string(ret));

		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			char	   *name = SPI_getvalue(tup, desc, 1);
			char	   *basis = SPI_getvalue(tup, desc, 2);
			Datum		d;
			GdprPurpose *p;
			bool		found;

			if (name == NULL || strlen(name) >= NAMEDATALEN)
				continue;		/* the table's CHECK forbids this */
			p = hash_search(newhash, name, HASH_ENTER, &found);
			if (basis == NULL || !gdpr_parse_basis(basis, &p->basis))
				p->basis = GDPR_BASIS_CONSENT;
			d = SPI_getbinval(tup, desc, 3, &isnull);
			p->has_retention = !isnull;
			if (!isnull)
				p->retention = *DatumGetIntervalP(d);
			d = SPI_getbinval(tup, desc, 4, &isnull);
			p->has_consent_valid_for = !isnull;
			if (!isnull)
				p->consent_valid_for = *DatumGetIntervalP(d);

			oldcxt = MemoryContextSwitchTo(newcxt);
			names = lappend(names, pstrdup(name));
			MemoryContextSwitchTo(oldcxt);
		}
		SPI_finish();
		if (pushed)
			PopActiveSnapshot();
	}

	/*
	 * Callers may still hold pointers into the old cache (an invalidation
	 * can arrive between two lookups): keep it until the end of the
	 * transaction instead of freeing it now.
	 */
	if (purpose_cxt != NULL)
	{
		if (IsTransactionState())
			MemoryContextSetParent(purpose_cxt, TopTransactionContext);
		else
			MemoryContextDelete(purpose_cxt);
	}
	purpose_cxt = newcxt;
	purpose_hash = newhash;
	purpose_names = names;
}

static void
purpose_cache_ensure(void)
{
	if (!purpose_valid || purpose_hash == NULL)
		purpose_cache_build();
}

const GdprPurpose *
gdpr_lookup_purpose(const char *name)
{
	if (name == NULL || strlen(name) >= NAMEDATALEN)
		return NULL;
	purpose_cache_ensure();
	return (const GdprPurpose *) hash_search(purpose_hash, name, HASH_FIND, NULL);
}

/* "a, b, c" of all defined purposes, or NULL when there are none */
char *
gdpr_purpose_list_text(void)
{
	StringInfoData buf;
	ListCell   *lc;

	purpose_cache_ensure();
	if (purpose_names == NIL)
		return NULL;
	initStringInfo(&buf);
	foreach(lc, purpose_names)
	{
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, quote_identifier((char *) lfirst(lc)));
	}
	return buf.data;
}

List *
gdpr_purpose_names(void)
{
	List	   *result = NIL;
	ListCell   *lc;

	purpose_cache_ensure();
	foreach(lc, purpose_names)
		result = lappend(result, pstrdup((char *) lfirst(lc)));
	return result;
}

void
gdpr_report_unknown_purpose(const char *name)
{
	char	   *known = gdpr_purpose_list_text();

	if (known)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("purpose \"%s\" does not exist", name),
				 errdetail("Defined purposes: %s.", known),
				 errhint("Define it first with gdpr.define_purpose(name, legal_basis, ...).")));
	else
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("purpose \"%s\" does not exist", name),
				 errdetail("No purposes are defined yet."),
				 errhint("Define it first with gdpr.define_purpose(name, legal_basis, ...).")));
}

const GdprPurpose *
gdpr_get_purpose(const char *name)
{
	const GdprPurpose *p = gdpr_lookup_purpose(name);

	if (p == NULL)
		gdpr_report_unknown_purpose(name);
	return p;
}

/*
 * Append one audit entry whose details are the given JSON object plus
 * "role": the role that made the change (the outer role, so a SECURITY
 * DEFINER wrapper does not hide it).
 */
void
gdpr_audit_change(const char *action, Oid relid, Jsonb *details)
{
	StringInfoData buf;
	Jsonb	   *jb;
	char	   *role = GetUserNameFromId(GetOuterUserId(), true);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"role\": ");
	escape_json(&buf, role ? role : "?");
	appendStringInfoChar(&buf, '}');
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
	if (details != NULL)
		jb = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
												JsonbPGetDatum(details),
												JsonbPGetDatum(jb)));
	gdpr_audit_append(action, NULL, relid, jb);
}

/*
 * gdpr._purpose_audit(action text, details jsonb): called by
 * define_purpose/drop_purpose.  Internal; not executable by PUBLIC.
 */
PG_FUNCTION_INFO_V1(gdpr_purpose_audit);
Datum
gdpr_purpose_audit(PG_FUNCTION_ARGS)
{
	char	   *action;

	GDPR_REQUIRE_ARG(0, "action");
	action = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (strcmp(action, "purpose.define") != 0 && strcmp(action, "purpose.drop") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid purpose audit action \"%s\"", action),
				 errhint("Allowed: purpose.define, purpose.drop.")));
	gdpr_audit_change(action, InvalidOid,
					  PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1));
	PG_RETURN_VOID();
}

/*
 * gdpr._purpose_cache(): the cache as this backend sees it (for tests of
 * the invalidation).
 */
PG_FUNCTION_INFO_V1(gdpr_purpose_cache);
Datum
gdpr_purpose_cache(PG_FUNCTION_ARGS)
{
	List	   *names = gdpr_purpose_names();
	Datum	   *elems;
	ListCell   *lc;
	int			n = 0;

	elems = palloc(sizeof(Datum) * (list_length(names) + 1));
	foreach(lc, names)
	{
		const GdprPurpose *p = gdpr_lookup_purpose((char *) lfirst(lc));
		char	   *s = psprintf("%s:%s", p->name, gdpr_basis_name(p->basis));

		elems[n++] = CStringGetTextDatum(s);
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}
