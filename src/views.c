/*-------------------------------------------------------------------------
 *
 * views.c
 *	  Consent-checked purpose views (API section 4).
 *
 * A purpose view of relation R for purpose P is
 *
 *	 CREATE VIEW s.r_p WITH (security_barrier) AS
 *	 SELECT <untagged columns and columns tagged for P> FROM s.r t0
 *	  WHERE <R's rows whose subject may be processed for P>
 *
 * The row filter is gdpr.may_process(subject, key, P) on:
 *	 - R's own key column when R is a subject table;
 *	 - R's BELONGS TO column;
 *	 - R's foreign key column when it references a subject table's key
 *	   directly (order.customer_id -> customer.id): no join;
 *	 - otherwise an EXISTS that joins up the shortest chain of foreign keys
 *	   to a table of the first three kinds (order_line -> order -> customer);
 *	 - for a table that only subject tables reference (address), an EXISTS
 *	   over the referencing subjects.
 * Equality quals on R's columns stay pushable through the security barrier
 * (the btree operators are leakproof), so point lookups keep using R's
 * indexes.
 *
 * The views are recorded in gdpr.purpose_view_registry and owned by the role
 * that created them (they read R with its privileges).  Event triggers keep
 * them in step: ddl_command_start moves views out of the way of a DROP
 * TABLE or of an ALTER TABLE that drops or retypes columns, ddl_command_end
 * regenerates the views of every relation a command touched (SECURITY
 * LABEL included), and sql_drop forgets the views and consent history of
 * dropped relations.  gdpr._refresh_purpose_views(rel) does the same on
 * demand.  Registry access runs as the bootstrap superuser; view DDL runs as
 * the view's owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/regproc.h"

#include "gdpr.h"
#include "audit.h"
#include "consent.h"
#include "purposes.h"
#include "tags.h"

#define MAX_CHAIN_DEPTH 8

/* >0 while we run view DDL ourselves: the event triggers stand aside */
static int	in_view_ddl = 0;

void
gdpr_views_init(void)
{
}

/* ------------------------------------------------------------------------
 * SPI helpers
 * ------------------------------------------------------------------------
 */

/* run sql (with optional args) as role; returns the SPI result code */
static int
spi_as(Oid role, const char *sql, int nargs, Oid *argtypes, Datum *values,
	   const char *nulls, bool readonly)
{
	Oid			saveuid;
	int			savesec;
	int			ret;

	GetUserIdAndSecContext(&saveuid, &savesec);
	SetUserIdAndSecContext(role, savesec | SECURITY_LOCAL_USERID_CHANGE);
	in_view_ddl++;
	PG_TRY();
	{
		/*
		 * Never read-only: that would read with the outer statement's
		 * snapshot and miss what the event triggers changed since.
		 */
		if (nargs > 0)
			ret = SPI_execute_with_args(sql, nargs, argtypes, values, nulls,
										false, 0);
		else
			ret = SPI_execute(sql, false, 0);
	}
	PG_CATCH();
	{
		in_view_ddl--;
		SetUserIdAndSecContext(saveuid, savesec);
		PG_RE_THROW();
	}
	PG_END_TRY();
	in_view_ddl--;
	SetUserIdAndSecContext(saveuid, savesec);
	if (ret < 0)
		elog(ERROR, "SPI failed (%s): %s", SPI_result_code_string(ret), sql);
	return ret;
}

/* registry / catalog access as the bootstrap superuser */
static int
spi_su(const char *sql, int nargs, Oid *argtypes, Datum *values, bool readonly)
{
	return spi_as(BOOTSTRAP_SUPERUSERID, sql, nargs, argtypes, values, NULL,
				  readonly);
}

/* purpose lookup as the bootstrap superuser (purposes.c reads with SPI) */
static const GdprPurpose *
get_purpose(const char *name)
{
	Oid			saveuid;
	int			savesec;
	const GdprPurpose *p;

	GetUserIdAndSecContext(&saveuid, &savesec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   savesec | SECURITY_LOCAL_USERID_CHANGE);
	p = gdpr_get_purpose(name);
	SetUserIdAndSecContext(saveuid, savesec);
	return p;
}

static void
spi_connect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/* one registry row */
typedef struct PViewRow
{
	char	   *schema;
	char	   *name;
	Oid			relid;
	char	   *purpose;
	char	   *owner;
} PViewRow;

#define REGISTRY_COLS "r.view_schema::text, r.view_name::text, r.relation::oid, r.purpose, r.owner::text"

/* rows of the registry query (in the SPI procedure context) */
static List *
registry_rows(const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	List	   *rows = NIL;
	uint64		i;
	SPITupleTable *tt;
	uint64		n;

	spi_su(sql, nargs, argtypes, values, true);
	tt = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		PViewRow   *r = palloc(sizeof(PViewRow));
		bool		isnull;

		r->schema = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
		r->name = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
		r->relid = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
		r->purpose = SPI_getvalue(tt->vals[i], tt->tupdesc, 4);
		r->owner = SPI_getvalue(tt->vals[i], tt->tupdesc, 5);
		rows = lappend(rows, r);
	}
	return rows;
}

static bool
registry_empty(void)
{
	spi_su("SELECT 1 FROM gdpr.purpose_view_registry LIMIT 1", 0, NULL, NULL, true);
	return SPI_processed == 0;
}

static void
registry_delete(const PViewRow *r)
{
	Oid			types[2] = {NAMEOID, NAMEOID};
	Datum		vals[2];

	vals[0] = DirectFunctionCall1(namein, CStringGetDatum(r->schema));
	vals[1] = DirectFunctionCall1(namein, CStringGetDatum(r->name));
	spi_su("DELETE FROM gdpr.purpose_view_registry"
		   " WHERE view_schema = $1 AND view_name = $2", 2, types, vals, false);
}

static Oid
view_oid(const PViewRow *r)
{
	Oid			nsp = get_namespace_oid(r->schema, true);

	if (!OidIsValid(nsp))
		return InvalidOid;
	return get_relname_relid(r->name, nsp);
}

static void
audit_view(const char *action, const PViewRow *r)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"view\": ");
	escape_json(&buf, quote_qualified_identifier(r->schema, r->name));
	appendStringInfoString(&buf, ", \"purpose\": ");
	escape_json(&buf, r->purpose);
	appendStringInfoChar(&buf, '}');
	gdpr_audit_append(action, NULL,
					  get_rel_name(r->relid) ? r->relid : InvalidOid,
					  DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
														 CStringGetDatum(buf.data))));
}

/* ------------------------------------------------------------------------
 * The view definition
 * ------------------------------------------------------------------------
 */
typedef struct FilterResult
{
	char	   *sql;
	int			joins;
} FilterResult;

static char *
qcol(const char *alias, Oid relid, AttrNumber att)
{
	return psprintf("%s.%s", alias,
					quote_identifier(get_attname(relid, att, false)));
}

static char *
may_process_call(Oid subject, const char *colexpr, const char *purpose)
{
	return psprintf("gdpr.may_process('%u'::regclass, %s, %s::text)",
					subject, colexpr, quote_literal_cstr(purpose));
}

/* subject and key column of a relation that is a subject / BELONGS TO */
static bool
direct_subject(Oid relid, Oid *subject, AttrNumber *col)
{
	const GdprTableTags *tags = gdpr_table_tags(relid);

	if (tags == NULL)
		return false;
	if (tags->is_subject && tags->subject_key != InvalidAttrNumber)
	{
		*subject = tags->relid;
		*col = tags->subject_key;
		return true;
	}
	if (OidIsValid(tags->belongs_to) && tags->belongs_to_col != InvalidAttrNumber)
	{
		*subject = tags->belongs_to;
		*col = tags->belongs_to_col;
		return true;
	}
	return false;
}

static List *
fkey_list(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	List	   *fks = copyObject(RelationGetFKeyList(rel));

	relation_close(rel, AccessShareLock);
	return fks;
}

/*
 * Filter for the rows of relid (under alias) whose subject may be
 * processed for purpose; NULL when relid reaches no subject.
 */
static FilterResult *
subject_filter(Oid relid, const char *alias, const char *purpose, int depth,
			   List *path, int *aliasno)
{
	Oid			subject;
	AttrNumber	col;
	List	   *fks;
	ListCell   *lc;
	FilterResult *best = NULL;

	if (direct_subject(relid, &subject, &col))
	{
		FilterResult *f = palloc(sizeof(FilterResult));

		f->sql = may_process_call(subject, qcol(alias, relid, col), purpose);
		f->joins = 0;
		return f;
	}
	if (depth >= MAX_CHAIN_DEPTH)
		return NULL;
	path = lappend_oid(list_copy(path), relid);
	fks = fkey_list(relid);

	/* a foreign key straight to a subject's key: filter on our column */
	foreach(lc, fks)
	{
		ForeignKeyCacheInfo *fk = lfirst_node(ForeignKeyCacheInfo, lc);
		const GdprTableTags *tt;
		int			i;
		Oid			subj;
		AttrNumber	key;

		if (fk->confrelid == relid)
			continue;			/* self reference: another subject */
		tt = gdpr_table_tags(fk->confrelid);
		if (tt == NULL || !tt->is_subject || tt->subject_key == InvalidAttrNumber)
			continue;
		subj = tt->relid;
		key = tt->subject_key;
		for (i = 0; i < fk->nkeys; i++)
		{
			if (fk->confkey[i] == key)
			{
				FilterResult *f = palloc(sizeof(FilterResult));

				f->sql = may_process_call(subj,
										  qcol(alias, relid, fk->conkey[i]),
										  purpose);
				f->joins = 0;
				return f;
			}
		}
	}

	/* else join up the shortest chain */
	foreach(lc, fks)
	{
		ForeignKeyCacheInfo *fk = lfirst_node(ForeignKeyCacheInfo, lc);
		char	   *sub_alias;
		FilterResult *sub;
		StringInfoData buf;
		int			i;

		if (fk->confrelid == relid || list_member_oid(path, fk->confrelid))
			continue;
		sub_alias = psprintf("t%d", ++(*aliasno));
		sub = subject_filter(fk->confrelid, sub_alias, purpose, depth + 1, path,
							 aliasno);
		if (sub == NULL)
			continue;
		if (best != NULL && best->joins <= sub->joins + 1)
			continue;
		initStringInfo(&buf);
		appendStringInfo(&buf, "EXISTS (SELECT 1 FROM %s %s WHERE ",
						 gdpr_relation_name(fk->confrelid), sub_alias);
		for (i = 0; i < fk->nkeys; i++)
			appendStringInfo(&buf, "%s = %s AND ",
							 qcol(sub_alias, fk->confrelid, fk->confkey[i]),
							 qcol(alias, relid, fk->conkey[i]));
		appendStringInfo(&buf, "%s)", sub->sql);
		best = palloc(sizeof(FilterResult));
		best->sql = buf.data;
		best->joins = sub->joins + 1;
	}
	return best;
}

/*
 * A table only subject tables reference (customer.address_id -> address):
 * its rows are shown when a referencing subject may be processed.
 */
static FilterResult *
referenced_filter(Oid relid, const char *purpose, int *aliasno)
{
	Oid			types[1] = {OIDOID};
	Datum		vals[1];
	uint64		i;
	StringInfoData buf;
	int			n = 0;
	SPITupleTable *tt;
	uint64		nrows;
	FilterResult *f;

	vals[0] = ObjectIdGetDatum(relid);
	spi_su("SELECT c.conrelid, c.conkey, c.confkey FROM pg_catalog.pg_constraint c"
		   " WHERE c.contype = 'f' AND c.confrelid = $1 AND c.conparentid = 0"
		   " AND c.conrelid <> $1 ORDER BY c.conrelid, c.conname",
		   1, types, vals, true);
	tt = SPI_tuptable;
	nrows = SPI_processed;
	initStringInfo(&buf);
	for (i = 0; i < nrows; i++)
	{
		bool		isnull;
		Oid			conrelid = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		ArrayType  *conkey = DatumGetArrayTypeP(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
		ArrayType  *confkey = DatumGetArrayTypeP(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
		int16	   *ck = (int16 *) ARR_DATA_PTR(conkey);
		int16	   *cfk = (int16 *) ARR_DATA_PTR(confkey);
		int			nk = ArrayGetNItems(ARR_NDIM(conkey), ARR_DIMS(conkey));
		const GdprTableTags *tags = gdpr_table_tags(conrelid);
		char	   *a;
		int			k;

		Oid			subj;
		AttrNumber	key;

		if (tags == NULL || !tags->is_subject || tags->subject_key == InvalidAttrNumber)
			continue;
		subj = tags->relid;
		key = tags->subject_key;
		a = psprintf("t%d", ++(*aliasno));
		appendStringInfo(&buf, "%sEXISTS (SELECT 1 FROM %s %s WHERE ",
						 n++ > 0 ? " OR " : "", gdpr_relation_name(conrelid), a);
		for (k = 0; k < nk; k++)
			appendStringInfo(&buf, "%s = %s AND ",
							 qcol(a, conrelid, ck[k]), qcol("t0", relid, cfk[k]));
		appendStringInfo(&buf, "%s)",
						 may_process_call(subj, qcol(a, conrelid, key),
										  purpose));
	}
	if (n == 0)
		return NULL;
	f = palloc(sizeof(FilterResult));
	f->sql = n > 1 ? psprintf("(%s)", buf.data) : buf.data;
	f->joins = 1;
	return f;
}

typedef struct ViewDef
{
	char	   *sql;			/* the SELECT */
	int			ncols;
	char	  **colnames;
	Oid		   *coltypes;
	int32	   *coltypmods;
} ViewDef;

static ViewDef *
build_view(Oid relid, const char *purpose)
{
	ViewDef    *vd = palloc0(sizeof(ViewDef));
	Relation	rel;
	TupleDesc	desc;
	const GdprTableTags *tags;
	StringInfoData buf;
	FilterResult *filter;
	int			aliasno = 0;
	int			i;
	char		relkind = get_rel_relkind(relid);

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
		relkind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", gdpr_relation_name(relid)),
				 errhint("Purpose views are made of tables (plain, partitioned or foreign).")));

	filter = subject_filter(relid, "t0", purpose, 0, NIL, &aliasno);
	if (filter == NULL)
		filter = referenced_filter(relid, purpose, &aliasno);
	if (filter == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"%s\" does not reach a data subject",
						gdpr_relation_name(relid)),
				 errdetail("A purpose view shows only the rows of subjects that may be processed, so it needs to know whose rows they are."),
				 errhint("Mark a subject table (SECURITY LABEL ... IS 'SUBJECT KEY (col)'), add a foreign key to one, or label the table 'BELONGS TO subject_table (col)'.")));

	rel = relation_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	tags = gdpr_table_tags(relid);
	vd->colnames = palloc(sizeof(char *) * desc->natts);
	vd->coltypes = palloc(sizeof(Oid) * desc->natts);
	vd->coltypmods = palloc(sizeof(int32) * desc->natts);
	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT ");
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const GdprColumnTag *ct;

		if (att->attisdropped)
			continue;
		ct = tags ? gdpr_column_tag(tags, att->attnum) : NULL;
		if (ct != NULL && !gdpr_column_has_purpose(ct, purpose))
			continue;
		appendStringInfo(&buf, "%st0.%s", vd->ncols > 0 ? ", " : "",
						 quote_identifier(NameStr(att->attname)));
		vd->colnames[vd->ncols] = pstrdup(NameStr(att->attname));
		vd->coltypes[vd->ncols] = att->atttypid;
		vd->coltypmods[vd->ncols] = att->atttypmod;
		vd->ncols++;
	}
	relation_close(rel, AccessShareLock);
	if (vd->ncols == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"%s\" has no column for purpose \"%s\"",
						gdpr_relation_name(relid), purpose),
				 errhint("A purpose view shows the untagged columns and those tagged for the purpose.")));
	appendStringInfo(&buf, " FROM %s t0 WHERE %s",
					 gdpr_relation_name(relid), filter->sql);
	vd->sql = buf.data;
	return vd;
}

/* can CREATE OR REPLACE VIEW turn the existing view into vd? */
static bool
view_compatible(Oid viewid, const ViewDef *vd)
{
	Relation	rel = relation_open(viewid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	bool		ok = desc->natts <= vd->ncols;
	int			i;

	for (i = 0; ok && i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		ok = !att->attisdropped &&
			strcmp(NameStr(att->attname), vd->colnames[i]) == 0 &&
			att->atttypid == vd->coltypes[i] &&
			att->atttypmod == vd->coltypmods[i];
	}
	relation_close(rel, AccessShareLock);
	return ok;
}

/* GRANT SELECT on the view (and USAGE on its schema) to role */
static void
grant_view_to(const PViewRow *r, Oid ownerid, const char *role)
{
	Oid			roleid = get_role_oid(role, true);
	Oid			nsp = get_namespace_oid(r->schema, false);
	char	   *qview = quote_qualified_identifier(r->schema, r->name);

	if (!OidIsValid(roleid))
		return;					/* the role is gone */
	spi_as(ownerid, psprintf("GRANT SELECT ON %s TO %s", qview,
							 quote_identifier(role)), 0, NULL, NULL, NULL, false);
	if (pg_namespace_aclcheck(nsp, roleid, ACL_USAGE) != ACLCHECK_OK)
	{
		Oid			types[2] = {NAMEOID, NAMEOID};
		Datum		vals[2];

		spi_su(psprintf("GRANT USAGE ON SCHEMA %s TO %s",
						quote_identifier(r->schema), quote_identifier(role)),
			   0, NULL, NULL, false);
		vals[0] = DirectFunctionCall1(namein, CStringGetDatum(role));
		vals[1] = DirectFunctionCall1(namein, CStringGetDatum(r->schema));
		spi_su("INSERT INTO gdpr.purpose_grant_schema (role, schema_name)"
			   " VALUES ($1, $2) ON CONFLICT DO NOTHING", 2, types, vals, false);
	}
}

static void
apply_purpose_grants(const PViewRow *r, Oid ownerid)
{
	Oid			types[1] = {TEXTOID};
	Datum		vals[1];
	List	   *roles = NIL;
	ListCell   *lc;
	uint64		i;

	vals[0] = CStringGetTextDatum(r->purpose);
	spi_su("SELECT role::text FROM gdpr.purpose_grant WHERE purpose = $1 ORDER BY 1",
		   1, types, vals, true);
	for (i = 0; i < SPI_processed; i++)
		roles = lappend(roles, SPI_getvalue(SPI_tuptable->vals[i],
											SPI_tuptable->tupdesc, 1));
	foreach(lc, roles)
		grant_view_to(r, ownerid, (char *) lfirst(lc));
}

/*
 * Create or regenerate the view of a registry row.  Returns its OID.
 */
static Oid
regen_view(const PViewRow *r)
{
	ViewDef    *vd = build_view(r->relid, r->purpose);
	Oid			ownerid = get_role_oid(r->owner, false);
	char	   *qview = quote_qualified_identifier(r->schema, r->name);
	Oid			existing = view_oid(r);
	Oid			viewid;

	if (OidIsValid(existing))
	{
		if (get_rel_relkind(existing) != RELKIND_VIEW)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_TABLE),
					 errmsg("relation \"%s\" already exists and is not a view", qview)));
		if (!view_compatible(existing, vd))
			spi_as(ownerid, psprintf("DROP VIEW %s", qview), 0, NULL, NULL,
				   NULL, false);
	}
	spi_as(ownerid,
		   psprintf("CREATE OR REPLACE VIEW %s WITH (security_barrier) AS %s",
					qview, vd->sql),
		   0, NULL, NULL, NULL, false);
	spi_as(ownerid,
		   psprintf("COMMENT ON VIEW %s IS %s", qview,
					quote_literal_cstr(psprintf("gdpr_crm purpose view of %s for purpose %s: rows of subjects that may be processed for it (regenerated automatically; drop with gdpr.drop_purpose_view)",
												gdpr_relation_name(r->relid),
												r->purpose))),
		   0, NULL, NULL, NULL, false);
	viewid = view_oid(r);
	apply_purpose_grants(r, ownerid);
	return viewid;
}

/*
 * Regenerate the views of relid and those that depend on it (joins); all
 * when relid is invalid.  Views whose relation is gone are forgotten; views
 * that are missing (moved aside by ddl_command_start) are recreated.
 */
static int
refresh_views(Oid relid)
{
	List	   *rows;
	ListCell   *lc;
	int			n = 0;

	if (OidIsValid(relid))
	{
		Oid			types[1] = {OIDOID};
		Datum		vals[1];

		vals[0] = ObjectIdGetDatum(relid);
		rows = registry_rows("SELECT " REGISTRY_COLS
							 " FROM gdpr.purpose_view_registry r"
							 " WHERE r.relation::oid = $1"
							 " OR to_regclass(format('%I.%I', r.view_schema, r.view_name)) IS NULL"
							 " OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d"
							 "   JOIN pg_catalog.pg_rewrite rw ON rw.oid = d.objid"
							 "  WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass"
							 "    AND rw.ev_class = to_regclass(format('%I.%I', r.view_schema, r.view_name))"
							 "    AND d.refclassid = 'pg_catalog.pg_class'::regclass"
							 "    AND d.refobjid = $1)"
							 " ORDER BY 1, 2", 1, types, vals);
	}
	else
		rows = registry_rows("SELECT " REGISTRY_COLS
							 " FROM gdpr.purpose_view_registry r ORDER BY 1, 2",
							 0, NULL, NULL);
	foreach(lc, rows)
	{
		PViewRow   *r = lfirst(lc);

		if (get_rel_name(r->relid) == NULL)
		{
			Oid			v = view_oid(r);

			if (OidIsValid(v))
				spi_su(psprintf("DROP VIEW IF EXISTS %s",
								quote_qualified_identifier(r->schema, r->name)),
					   0, NULL, NULL, false);
			registry_delete(r);
			continue;
		}
		regen_view(r);
		n++;
	}
	return n;
}

/* ------------------------------------------------------------------------
 * SQL functions
 * ------------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(gdpr_create_purpose_view);
Datum
gdpr_create_purpose_view(PG_FUNCTION_ARGS)
{
	Oid			relid;
	const GdprPurpose *p;
	PViewRow	r;
	Oid			types[5] = {NAMEOID, NAMEOID, REGCLASSOID, TEXTOID, NAMEOID};
	Datum		vals[5];
	Oid			existing;
	Oid			viewid;
	bool		registered = false;

	GDPR_REQUIRE_ARG(0, "rel");
	GDPR_REQUIRE_ARG(1, "purpose");
	relid = PG_GETARG_OID(0);
	if (get_rel_name(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	p = get_purpose(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", gdpr_relation_name(relid)),
				 errdetail("The purpose view reads the table with its owner's privileges; you would own it."),
				 errhint("Create purpose views as a role with SELECT on the table (its owner).")));

	r.relid = relid;
	r.purpose = pstrdup(p->name);
	r.owner = GetUserNameFromId(GetUserId(), false);
	r.schema = get_namespace_name(get_rel_namespace(relid));
	if (PG_ARGISNULL(2))
	{
		r.name = psprintf("%s_%s", get_rel_name(relid), p->name);
		if (strlen(r.name) >= NAMEDATALEN)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("default view name \"%s\" is too long", r.name),
					 errhint("Pass view_name.")));
	}
	else
	{
		List	   *names = stringToQualifiedNameList(text_to_cstring(PG_GETARG_TEXT_PP(2)));

		if (list_length(names) == 2)
		{
			r.schema = strVal(linitial(names));
			r.name = strVal(lsecond(names));
		}
		else if (list_length(names) == 1)
			r.name = strVal(linitial(names));
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("invalid view name \"%s\"", text_to_cstring(PG_GETARG_TEXT_PP(2))),
					 errhint("Use view or schema.view.")));
		/* ereport(ERROR) above does not return; cppcheck cannot tell */
		/* cppcheck-suppress uninitStructMember */
		if (strlen(r.name) >= NAMEDATALEN)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("view name \"%s\" is too long", r.name)));
	}

	spi_connect();
	vals[0] = DirectFunctionCall1(namein, CStringGetDatum(r.schema));
	vals[1] = DirectFunctionCall1(namein, CStringGetDatum(r.name));
	spi_su("SELECT relation::oid, purpose FROM gdpr.purpose_view_registry"
		   " WHERE view_schema = $1 AND view_name = $2", 2, types, vals, true);
	if (SPI_processed > 0)
	{
		bool		isnull;
		Oid			oldrel = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
															SPI_tuptable->tupdesc, 1, &isnull));
		char	   *oldpurpose = SPI_getvalue(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 2);

		if (oldrel != relid || strcmp(oldpurpose, r.purpose) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_TABLE),
					 errmsg("purpose view \"%s\" already exists for another relation or purpose",
							quote_qualified_identifier(r.schema, r.name)),
					 errhint("Choose another view_name, or drop it with gdpr.drop_purpose_view().")));
		registered = true;
	}
	else
	{
		existing = view_oid(&r);
		if (OidIsValid(existing))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_TABLE),
					 errmsg("relation \"%s\" already exists",
							quote_qualified_identifier(r.schema, r.name)),
					 errhint("Choose another view_name.")));
	}

	if (!registered)
	{
		vals[2] = ObjectIdGetDatum(relid);
		vals[3] = CStringGetTextDatum(r.purpose);
		vals[4] = DirectFunctionCall1(namein, CStringGetDatum(r.owner));
		spi_su("INSERT INTO gdpr.purpose_view_registry"
			   " (view_schema, view_name, relation, purpose, owner)"
			   " VALUES ($1, $2, $3, $4, $5)", 5, types, vals, false);
	}
	viewid = regen_view(&r);
	SPI_finish();
	if (!registered)
		audit_view("view.create", &r);
	PG_RETURN_OID(viewid);
}

PG_FUNCTION_INFO_V1(gdpr_drop_purpose_view);
Datum
gdpr_drop_purpose_view(PG_FUNCTION_ARGS)
{
	Oid			viewid;
	PViewRow	r;
	Oid			types[2] = {NAMEOID, NAMEOID};
	Datum		vals[2];
	List	   *rows;

	GDPR_REQUIRE_ARG(0, "view");
	viewid = PG_GETARG_OID(0);
	if (get_rel_name(viewid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", viewid)));
	r.schema = get_namespace_name(get_rel_namespace(viewid));
	r.name = get_rel_name(viewid);

	spi_connect();
	vals[0] = DirectFunctionCall1(namein, CStringGetDatum(r.schema));
	vals[1] = DirectFunctionCall1(namein, CStringGetDatum(r.name));
	rows = registry_rows("SELECT " REGISTRY_COLS " FROM gdpr.purpose_view_registry r"
						 " WHERE r.view_schema = $1 AND r.view_name = $2",
						 2, types, vals);
	if (rows == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a purpose view", gdpr_relation_name(viewid)),
				 errhint("gdpr.purpose_views lists the purpose views.")));
	if (!pg_class_ownercheck(viewid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of view %s", gdpr_relation_name(viewid))));
	spi_as(GetUserId(), psprintf("DROP VIEW %s", gdpr_relation_name(viewid)),
		   0, NULL, NULL, NULL, false);
	registry_delete(linitial(rows));
	SPI_finish();
	audit_view("view.drop", linitial(rows));
	PG_RETURN_VOID();
}

static List *
views_of_purpose(const char *purpose)
{
	Oid			types[1] = {TEXTOID};
	Datum		vals[1];

	vals[0] = CStringGetTextDatum(purpose);
	return registry_rows("SELECT " REGISTRY_COLS " FROM gdpr.purpose_view_registry r"
						 " WHERE r.purpose = $1 ORDER BY 1, 2", 1, types, vals);
}

PG_FUNCTION_INFO_V1(gdpr_grant_purpose);
Datum
gdpr_grant_purpose(PG_FUNCTION_ARGS)
{
	char	   *role;
	const GdprPurpose *p;
	Oid			types[2] = {NAMEOID, TEXTOID};
	Datum		vals[2];
	List	   *rows;
	ListCell   *lc;

	GDPR_REQUIRE_ARG(0, "role");
	GDPR_REQUIRE_ARG(1, "purpose");
	role = pstrdup(NameStr(*PG_GETARG_NAME(0)));
	(void) get_role_oid(role, false);
	p = get_purpose(text_to_cstring(PG_GETARG_TEXT_PP(1)));

	spi_connect();
	vals[0] = DirectFunctionCall1(namein, CStringGetDatum(role));
	vals[1] = CStringGetTextDatum(p->name);
	spi_su("INSERT INTO gdpr.purpose_grant (role, purpose) VALUES ($1, $2)"
		   " ON CONFLICT DO NOTHING", 2, types, vals, false);
	rows = views_of_purpose(p->name);
	foreach(lc, rows)
	{
		PViewRow   *r = lfirst(lc);

		if (OidIsValid(view_oid(r)))
			grant_view_to(r, get_role_oid(r->owner, false), role);
	}
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(gdpr_revoke_purpose);
Datum
gdpr_revoke_purpose(PG_FUNCTION_ARGS)
{
	char	   *role;
	const GdprPurpose *p;
	Oid			types[2] = {NAMEOID, TEXTOID};
	Datum		vals[2];
	List	   *rows;
	ListCell   *lc;
	List	   *schemas = NIL;
	uint64		i;

	GDPR_REQUIRE_ARG(0, "role");
	GDPR_REQUIRE_ARG(1, "purpose");
	role = pstrdup(NameStr(*PG_GETARG_NAME(0)));
	(void) get_role_oid(role, false);
	p = get_purpose(text_to_cstring(PG_GETARG_TEXT_PP(1)));

	spi_connect();
	vals[0] = DirectFunctionCall1(namein, CStringGetDatum(role));
	vals[1] = CStringGetTextDatum(p->name);
	spi_su("DELETE FROM gdpr.purpose_grant WHERE role = $1 AND purpose = $2",
		   2, types, vals, false);
	rows = views_of_purpose(p->name);
	foreach(lc, rows)
	{
		PViewRow   *r = lfirst(lc);

		if (OidIsValid(view_oid(r)))
			spi_as(get_role_oid(r->owner, false),
				   psprintf("REVOKE SELECT ON %s FROM %s",
							quote_qualified_identifier(r->schema, r->name),
							quote_identifier(role)),
				   0, NULL, NULL, NULL, false);
	}
	/* USAGE we gave on schemas that no other granted purpose needs */
	spi_su("SELECT s.schema_name::text FROM gdpr.purpose_grant_schema s"
		   " WHERE s.role = $1 AND NOT EXISTS ("
		   "  SELECT 1 FROM gdpr.purpose_grant g"
		   "  JOIN gdpr.purpose_view_registry r ON r.purpose = g.purpose"
		   "  WHERE g.role = s.role AND r.view_schema = s.schema_name)",
		   1, types, vals, true);
	for (i = 0; i < SPI_processed; i++)
		schemas = lappend(schemas, SPI_getvalue(SPI_tuptable->vals[i],
												SPI_tuptable->tupdesc, 1));
	foreach(lc, schemas)
	{
		char	   *s = lfirst(lc);
		Datum		v2[2];
		Oid			t2[2] = {NAMEOID, NAMEOID};

		if (OidIsValid(get_namespace_oid(s, true)))
			spi_su(psprintf("REVOKE USAGE ON SCHEMA %s FROM %s",
							quote_identifier(s), quote_identifier(role)),
				   0, NULL, NULL, false);
		v2[0] = vals[0];
		v2[1] = DirectFunctionCall1(namein, CStringGetDatum(s));
		spi_su("DELETE FROM gdpr.purpose_grant_schema WHERE role = $1 AND schema_name = $2",
			   2, t2, v2, false);
	}
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(gdpr_refresh_purpose_views);
Datum
gdpr_refresh_purpose_views(PG_FUNCTION_ARGS)
{
	int			n;

	spi_connect();
	n = refresh_views(PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0));
	SPI_finish();
	PG_RETURN_INT32(n);
}

/* ------------------------------------------------------------------------
 * Event triggers
 * ------------------------------------------------------------------------
 */

/* move the views that depend on relid aside; forget relid's own if asked */
static void
views_step_aside(Oid relid, bool forget_own)
{
	Oid			types[1] = {OIDOID};
	Datum		vals[1];
	List	   *rows;
	ListCell   *lc;

	vals[0] = ObjectIdGetDatum(relid);
	rows = registry_rows("SELECT " REGISTRY_COLS
						 " FROM gdpr.purpose_view_registry r"
						 " WHERE r.relation::oid = $1"
						 " OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d"
						 "   JOIN pg_catalog.pg_rewrite rw ON rw.oid = d.objid"
						 "  WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass"
						 "    AND rw.ev_class = to_regclass(format('%I.%I', r.view_schema, r.view_name))"
						 "    AND d.refclassid = 'pg_catalog.pg_class'::regclass"
						 "    AND d.refobjid = $1)"
						 " ORDER BY 1, 2", 1, types, vals);
	foreach(lc, rows)
	{
		PViewRow   *r = lfirst(lc);
		Oid			v = view_oid(r);

		if (OidIsValid(v))
			spi_su(psprintf("DROP VIEW %s",
							quote_qualified_identifier(r->schema, r->name)),
				   0, NULL, NULL, false);
		if (forget_own && r->relid == relid)
		{
			registry_delete(r);
			audit_view("view.drop", r);
		}
	}
}

PG_FUNCTION_INFO_V1(gdpr_purpose_views_ddl_start);
Datum
gdpr_purpose_views_ddl_start(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Node	   *parsetree;
	List	   *rels = NIL;
	bool		forget = false;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "not fired by event trigger manager");
	if (in_view_ddl > 0 || !OidIsValid(gdpr_table_oid("purpose_view_registry", true)))
		PG_RETURN_NULL();
	if (!check_function_bodies)
		PG_RETURN_NULL();		/* restore mode: see gdpr_purpose_views_ddl_end */
	trigdata = (EventTriggerData *) fcinfo->context;
	parsetree = trigdata->parsetree;

	if (IsA(parsetree, DropStmt))
	{
		DropStmt   *stmt = (DropStmt *) parsetree;

		if (stmt->removeType == OBJECT_TABLE ||
			stmt->removeType == OBJECT_FOREIGN_TABLE)
		{
			foreach(lc, stmt->objects)
			{
				RangeVar   *rv = makeRangeVarFromNameList(castNode(List, lfirst(lc)));
				Oid			relid = RangeVarGetRelid(rv, NoLock, true);

				if (OidIsValid(relid))
					rels = lappend_oid(rels, relid);
			}
			forget = true;
		}
	}
	else if (IsA(parsetree, AlterTableStmt))
	{
		AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
		bool		conflicts = false;

		foreach(lc, stmt->cmds)
		{
			AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

			if (cmd->subtype == AT_DropColumn || cmd->subtype == AT_AlterColumnType)
				conflicts = true;
		}
		if (conflicts)
		{
			Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);

			if (OidIsValid(relid))
				rels = lappend_oid(rels, relid);
		}
	}
	if (rels == NIL)
		PG_RETURN_NULL();

	spi_connect();
	if (!registry_empty())
	{
		foreach(lc, rels)
			views_step_aside(lfirst_oid(lc), forget);
	}
	SPI_finish();
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(gdpr_purpose_views_ddl_end);
Datum
gdpr_purpose_views_ddl_end(PG_FUNCTION_ARGS)
{
	List	   *rels = NIL;
	ListCell   *lc;
	uint64		i;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "not fired by event trigger manager");
	if (in_view_ddl > 0 || !OidIsValid(gdpr_table_oid("purpose_view_registry", true)))
		PG_RETURN_NULL();
	/*
	 * Restore mode (pg_dump output sets check_function_bodies = off): the
	 * views and their registry come back as they were dumped, and a table is
	 * incomplete until the dump's last constraint; nothing to regenerate.
	 */
	if (!check_function_bodies)
		PG_RETURN_NULL();

	spi_connect();
	if (!registry_empty())
	{
		spi_su("SELECT DISTINCT objid FROM pg_catalog.pg_event_trigger_ddl_commands()"
			   " WHERE classid = 'pg_catalog.pg_class'::regclass ORDER BY 1",
			   0, NULL, NULL, true);
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			rels = lappend_oid(rels,
							   DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															  SPI_tuptable->tupdesc,
															  1, &isnull)));
		}
		foreach(lc, rels)
			refresh_views(lfirst_oid(lc));
		/* views moved aside for a command that touched no relation above */
		if (rels == NIL)
		{
			List	   *rows;
			ListCell   *lc2;

			rows = registry_rows("SELECT " REGISTRY_COLS
								 " FROM gdpr.purpose_view_registry r"
								 " WHERE to_regclass(format('%I.%I', r.view_schema, r.view_name)) IS NULL"
								 " ORDER BY 1, 2", 0, NULL, NULL);
			foreach(lc2, rows)
			{
				PViewRow   *r = lfirst(lc2);

				if (get_rel_name(r->relid) == NULL)
					registry_delete(r);
				else
					regen_view(r);
			}
		}
	}
	SPI_finish();
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(gdpr_purpose_views_sql_drop);
Datum
gdpr_purpose_views_sql_drop(PG_FUNCTION_ARGS)
{
	List	   *rows;
	ListCell   *lc;
	List	   *tables = NIL;
	uint64		i;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "not fired by event trigger manager");
	if (in_view_ddl > 0 || !OidIsValid(gdpr_table_oid("purpose_view_registry", true)))
		PG_RETURN_NULL();

	spi_connect();
	/* purpose views dropped directly, or with their table */
	rows = registry_rows("SELECT " REGISTRY_COLS
						 " FROM gdpr.purpose_view_registry r"
						 " JOIN pg_catalog.pg_event_trigger_dropped_objects() d"
						 "   ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0"
						 "  AND ((d.object_type = 'view' AND d.schema_name = r.view_schema"
						 "        AND d.object_name = r.view_name)"
						 "       OR (d.object_type IN ('table', 'foreign table')"
						 "           AND d.objid = r.relation::oid))"
						 " ORDER BY 1, 2", 0, NULL, NULL);
	foreach(lc, rows)
	{
		PViewRow   *r = lfirst(lc);

		registry_delete(r);
		audit_view("view.drop", r);
	}

	/* consent history of dropped subject tables: its regclass would dangle */
	spi_su("SELECT DISTINCT d.objid FROM pg_catalog.pg_event_trigger_dropped_objects() d"
		   " WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0"
		   "   AND d.object_type IN ('table', 'foreign table')"
		   "   AND EXISTS (SELECT 1 FROM gdpr.consent_event e WHERE e.subject::oid = d.objid)",
		   0, NULL, NULL, true);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		tables = lappend_oid(tables,
							 DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															SPI_tuptable->tupdesc,
															1, &isnull)));
	}
	foreach(lc, tables)
	{
		Oid			saveuid;
		int			savesec;

		GetUserIdAndSecContext(&saveuid, &savesec);
		SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
							   savesec | SECURITY_LOCAL_USERID_CHANGE);
		gdpr_consent_forget_relation(lfirst_oid(lc));
		SetUserIdAndSecContext(saveuid, savesec);
	}
	SPI_finish();
	PG_RETURN_NULL();
}
