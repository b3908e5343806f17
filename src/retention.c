/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Retention expiry (API section 6): the rules, gdpr.expire(), and the
 *	  log of runs.
 *
 * The rules (API section 11):
 *	- The clock of a row is its RETAIN FROM column, or else that of the
 *	  nearest row it references (foreign keys, BELONGS TO) that has one
 *	  (order lines follow their order).  No clock: the row never expires.
 *	- A column has run out for a row when every purpose it is tagged with
 *	  has a retention and clock + retention lies in the past.  Its value is
 *	  cleared (NULL, or a neutral value where NOT NULL): action "nulled".
 *	- A row has run out when every purpose of every tagged column of its
 *	  table has.  It is deleted, together with the untagged rows that hang
 *	  below it (order lines), or anonymized (all tagged columns cleared)
 *	  where a row that stays references it, directly or through untagged
 *	  rows.  A row stays when it has not run out, or is itself referenced
 *	  by a row that stays.
 *	- Key columns (primary key, referenced by a foreign key, NOT NULL
 *	  foreign key) and the RETAIN FROM column are never cleared.
 *
 * Everything is set-based: one statement per relation and batch, built
 * from the catalogs once per batch (never per row).  The statement picks
 * its candidate rows with FOR UPDATE SKIP LOCKED (rows applications hold
 * are left for the next pass) and deletes, anonymizes and nulls them with
 * data-modifying CTEs, so a batch is atomic.  A dry run runs the same
 * candidate query without locks and counts.
 *
 * Relations are handled children first, so that by the time a parent row
 * is looked at, its expired children are gone (or, in a dry run, counted
 * as gone).  In a real run a row that has run out but still has a tagged
 * child row that has run out too (locked by an application, say) waits for
 * the next pass; deleting it would break or cascade into that row.
 *
 * Helpers that belong with the subject graph (graph.c) are here for now:
 * the reference graph (edges), the clock, clearing values.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/partition.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "gdpr.h"
#include "audit.h"
#include "graph.h"
#include "purposes.h"
#include "retention.h"
#include "tags.h"

#define MAX_DEPTH 8

/* a reference: child.ckeys -> parent.pkeys (foreign key or BELONGS TO) */
typedef struct RefEdge
{
	Oid			child;
	Oid			parent;
	int			nkeys;
	AttrNumber	ckeys[INDEX_MAX_KEYS];
	AttrNumber	pkeys[INDEX_MAX_KEYS];
	char		deltype;		/* confdeltype; 'b' = BELONGS TO */
} RefEdge;

typedef struct ExpCtx
{
	List	   *edges;			/* RefEdge * */
	int			aliasno;
	int			nctes;
	bool		dry_run;
	StringInfoData ctes;		/* deletions of untagged rows below */
	List	   *cte_relids;		/* relation of each child deletion CTE */
} ExpCtx;

/* ------------------------------------------------------------------------
 * The reference graph
 * ------------------------------------------------------------------------
 */
static Oid
root_of(Oid relid)
{
	if (get_rel_relispartition(relid))
	{
		List	   *anc = get_partition_ancestors(relid);

		if (anc != NIL)
			return llast_oid(anc);
	}
	return relid;
}

/* relid and its partition ancestors */
static List *
family_of(Oid relid)
{
	List	   *fam = list_make1_oid(relid);

	if (get_rel_relispartition(relid))
		fam = list_concat(fam, get_partition_ancestors(relid));
	return fam;
}

static void
int2array_to_keys(Datum d, AttrNumber *keys, int *nkeys)
{
	ArrayType  *arr = DatumGetArrayTypeP(d);
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(arr, INT2OID, 2, true, TYPALIGN_SHORT, &elems, &nulls, &n);
	if (n > INDEX_MAX_KEYS)
		n = INDEX_MAX_KEYS;
	for (int i = 0; i < n; i++)
		keys[i] = DatumGetInt16(elems[i]);
	*nkeys = n;
}

/* every foreign key (top-level) and BELONGS TO link; needs SPI */
static List *
load_edges(void)
{
	List	   *edges = NIL;
	List	   *labelled;
	ListCell   *lc;
	int			ret;

	ret = SPI_execute("SELECT conrelid, confrelid, conkey, confkey, confdeltype::text"
					  " FROM pg_catalog.pg_constraint"
					  " WHERE contype = 'f' AND conparentid = 0", true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "gdpr_crm: reading foreign keys failed: %s", SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		RefEdge    *e = palloc0(sizeof(RefEdge));
		int			nc,
					np;
		char	   *dt;

		e->child = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		e->parent = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		int2array_to_keys(SPI_getbinval(tup, desc, 3, &isnull), e->ckeys, &nc);
		int2array_to_keys(SPI_getbinval(tup, desc, 4, &isnull), e->pkeys, &np);
		e->nkeys = Min(nc, np);
		dt = SPI_getvalue(tup, desc, 5);
		e->deltype = dt ? dt[0] : 'a';
		edges = lappend(edges, e);
	}

	/* BELONGS TO s (col): col -> the subject key of s */
	labelled = gdpr_labelled_relations();
	foreach(lc, labelled)
	{
		const GdprTableTags *tags = gdpr_table_tags(lfirst_oid(lc));
		const GdprTableTags *stags;
		RefEdge    *e;

		if (tags == NULL || !OidIsValid(tags->belongs_to) ||
			tags->belongs_to_col == InvalidAttrNumber)
			continue;
		stags = gdpr_table_tags(tags->belongs_to);
		if (stags == NULL || !stags->is_subject || stags->subject_key == InvalidAttrNumber)
			continue;
		e = palloc0(sizeof(RefEdge));
		e->child = tags->relid;
		e->parent = tags->belongs_to;
		e->nkeys = 1;
		e->ckeys[0] = tags->belongs_to_col;
		e->pkeys[0] = stags->subject_key;
		e->deltype = 'b';
		edges = lappend(edges, e);
	}
	return edges;
}

static bool
rel_tagged(Oid relid)
{
	const GdprTableTags *tags = gdpr_table_tags(relid);

	return tags != NULL && tags->ncolumns > 0;
}

static char *
qualified_name(Oid relid)
{
	return gdpr_relation_name(relid);
}

static char *
new_alias(ExpCtx *ctx)
{
	return psprintf("g%d", ++ctx->aliasno);
}

static const char *
col_ref(const char *alias, Oid relid, AttrNumber attnum)
{
	char	   *name = get_attname(relid, attnum, false);

	return psprintf("%s.%s", alias, quote_identifier(name));
}

/* "c.k1 = p.k1 AND c.k2 = p.k2" */
static char *
join_cond(const RefEdge *e, const char *calias, const char *palias)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < e->nkeys; i++)
		appendStringInfo(&buf, "%s%s = %s", i > 0 ? " AND " : "",
						 col_ref(calias, e->child, e->ckeys[i]),
						 col_ref(palias, e->parent, e->pkeys[i]));
	return buf.data;
}

/* "(a.k1, a.k2)" of the child (child = true) or parent side of e */
static char *
key_list(const RefEdge *e, const char *alias, bool child)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (e->nkeys > 1 && !child)
		appendStringInfoChar(&buf, '(');
	for (int i = 0; i < e->nkeys; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "",
						 child ? col_ref(alias, e->child, e->ckeys[i]) :
						 col_ref(alias, e->parent, e->pkeys[i]));
	if (e->nkeys > 1 && !child)
		appendStringInfoChar(&buf, ')');
	return buf.data;
}

static bool
path_has(List *path, Oid relid)
{
	return list_member_oid(path, root_of(relid));
}

/* ------------------------------------------------------------------------
 * Expressions
 * ------------------------------------------------------------------------
 */

/*
 * The clock of a row of rel (SQL expression over alias), from its own
 * RETAIN FROM column or the nearest referenced row with one.  Returns the
 * distance (0 = own column) or -1 when there is none.
 */
static int
clock_expr(ExpCtx *ctx, Oid rel, const char *alias, List *path, char **expr)
{
	const GdprTableTags *tags = gdpr_table_tags(rel);
	List	   *fam;
	ListCell   *lc;
	int			best = -1;
	List	   *exprs = NIL;

	*expr = NULL;
	if (tags != NULL && tags->retain_from != InvalidAttrNumber)
	{
		*expr = (char *) col_ref(alias, rel, tags->retain_from);
		return 0;
	}
	if (list_length(path) > MAX_DEPTH)
		return -1;

	fam = family_of(rel);
	foreach(lc, ctx->edges)
	{
		RefEdge    *e = (RefEdge *) lfirst(lc);
		char	   *palias;
		char	   *pexpr;
		int			d;

		if (!list_member_oid(fam, e->child) || path_has(path, e->parent))
			continue;
		palias = new_alias(ctx);
		d = clock_expr(ctx, e->parent, palias,
					   lappend_oid(list_copy(path), root_of(e->parent)), &pexpr);
		if (d < 0)
			continue;
		if (best >= 0 && d > best)
			continue;
		if (best < 0 || d < best)
		{
			list_free(exprs);
			exprs = NIL;
			best = d;
		}
		exprs = lappend(exprs,
						psprintf("(SELECT %s FROM %s %s WHERE %s)",
								 pexpr, qualified_name(e->parent), palias,
								 join_cond(e, alias, palias)));
	}
	if (best < 0)
		return -1;
	if (list_length(exprs) == 1)
		*expr = (char *) linitial(exprs);
	else
	{
		StringInfoData buf;

		/* equally near: the latest clock (keeps data longest) */
		initStringInfo(&buf);
		appendStringInfoString(&buf, "GREATEST(");
		foreach(lc, exprs)
			appendStringInfo(&buf, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
							 (char *) lfirst(lc));
		appendStringInfoChar(&buf, ')');
		*expr = buf.data;
	}
	return best + 1;
}

static char *
interval_literal(const Interval *iv)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(interval_out,
														IntervalPGetDatum(iv)));

	return psprintf("%s::interval", quote_literal_cstr(s));
}

/*
 * The threshold below which a clock has run out for all the given purposes
 * ("LEAST(now() - r1, now() - r2)"), or NULL when one of them never runs
 * out.  *purposes accumulates the distinct purpose names seen.
 */
static bool
add_purposes(const GdprColumnTag *ct, List **names)
{
	for (int i = 0; i < ct->npurposes; i++)
	{
		const GdprPurpose *p = gdpr_lookup_purpose(ct->purposes[i]);
		ListCell   *lc;
		bool		seen = false;

		if (p == NULL || !p->has_retention)
			return false;
		foreach(lc, *names)
			if (strcmp((char *) lfirst(lc), ct->purposes[i]) == 0)
				seen = true;
		if (!seen)
			*names = lappend(*names, ct->purposes[i]);
	}
	return true;
}

static char *
threshold_expr(List *names)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	if (list_length(names) > 1)
		appendStringInfoString(&buf, "LEAST(");
	foreach(lc, names)
	{
		const GdprPurpose *p = gdpr_lookup_purpose((char *) lfirst(lc));

		appendStringInfo(&buf, "%s(pg_catalog.now() - %s)",
						 foreach_current_index(lc) > 0 ? ", " : "",
						 interval_literal(&p->retention));
	}
	if (list_length(names) > 1)
		appendStringInfoChar(&buf, ')');
	return buf.data;
}

/* the row has run out as a whole; "false" when it never does */
static char *
row_expired_expr(ExpCtx *ctx, Oid rel, const char *alias, List *path)
{
	const GdprTableTags *tags = gdpr_table_tags(rel);
	List	   *names = NIL;
	char	   *clock;

	if (tags == NULL || tags->ncolumns == 0)
		return "false";
	for (int i = 0; i < tags->ncolumns; i++)
		if (!add_purposes(&tags->columns[i], &names))
			return "false";
	/* the clock looks up, the path of the caller down: a path of its own */
	if (clock_expr(ctx, rel, alias, list_make1_oid(root_of(rel)), &clock) < 0)
		return "false";
	return psprintf("COALESCE(%s < %s, false)", clock, threshold_expr(names));
}

static char *keptref_expr(ExpCtx *ctx, Oid rel, const char *alias, List *path);

/* the row stays (is not deleted); "true"/"false" when constant */
static char *
kept_expr(ExpCtx *ctx, Oid rel, const char *alias, List *path)
{
	char	   *kr;

	if (rel_tagged(rel))
	{
		char	   *rx = row_expired_expr(ctx, rel, alias, path);

		if (strcmp(rx, "false") == 0)
			return "true";
		kr = keptref_expr(ctx, rel, alias, path);
		if (strcmp(kr, "false") == 0)
			return psprintf("(NOT %s)", rx);
		return psprintf("(NOT %s OR %s)", rx, kr);
	}
	return keptref_expr(ctx, rel, alias, path);
}

/*
 * Some row that stays references this row, directly or through untagged
 * rows.  In a cycle (self reference) any referencing row counts: the
 * conservative choice never deletes a row something still points to.
 */
static char *
ref_expr(ExpCtx *ctx, Oid rel, const char *alias, List *path, bool tagged_any)
{
	List	   *fam = family_of(rel);
	ListCell   *lc;
	StringInfoData buf;
	int			nterms = 0;

	initStringInfo(&buf);
	if (list_length(path) > MAX_DEPTH)
		return "true";
	foreach(lc, ctx->edges)
	{
		RefEdge    *e = (RefEdge *) lfirst(lc);
		char	   *calias;
		char	   *pred;

		if (!list_member_oid(fam, e->parent))
			continue;
		calias = new_alias(ctx);
		if (path_has(path, e->child))
			pred = "true";
		else
		{
			List	   *cpath = lappend_oid(list_copy(path), root_of(e->child));

			if (tagged_any)
				pred = rel_tagged(e->child) ? "true" :
					ref_expr(ctx, e->child, calias, cpath, true);
			else
				pred = kept_expr(ctx, e->child, calias, cpath);
		}
		if (strcmp(pred, "false") == 0)
			continue;
		/*
		 * "key IN (uncorrelated subquery)": a hashed subplan, evaluated once
		 * per statement, not once per row.
		 */
		appendStringInfo(&buf, "%sCOALESCE(%s IN (SELECT %s FROM %s %s%s%s), false)",
						 nterms++ > 0 ? " OR " : "",
						 key_list(e, alias, false), key_list(e, calias, true),
						 qualified_name(e->child), calias,
						 strcmp(pred, "true") == 0 ? "" : " WHERE ",
						 strcmp(pred, "true") == 0 ? "" : pred);
	}
	if (nterms == 0)
		return "false";
	if (nterms == 1)
		return buf.data;
	return psprintf("(%s)", buf.data);
}

static char *
keptref_expr(ExpCtx *ctx, Oid rel, const char *alias, List *path)
{
	return ref_expr(ctx, rel, alias, path, false);
}

/* ------------------------------------------------------------------------
 * Clearing values
 * ------------------------------------------------------------------------
 */
typedef struct ClearCol
{
	char	   *name;			/* quoted */
	char	   *neutral;		/* SQL expression */
	char	   *cleared;		/* SQL predicate over alias t */
	List	   *purposes;		/* names, for the column's threshold */
	bool		expirable;		/* every purpose has a retention */
} ClearCol;

static bool
attnum_in_unique_index(Relation rel, AttrNumber attnum)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index idx;

		if (!HeapTupleIsValid(tup))
			continue;
		idx = (Form_pg_index) GETSTRUCT(tup);
		if (idx->indisunique)
			for (int i = 0; i < idx->indnkeyatts; i++)
				if (idx->indkey.values[i] == attnum)
					found = true;
		ReleaseSysCache(tup);
	}
	list_free(indexes);
	return found;
}

static bool
attnum_is_primary_key(Relation rel, AttrNumber attnum)
{
	Oid			pk = RelationGetPrimaryKeyIndex(rel);
	HeapTuple	tup;
	bool		found = false;

	if (!OidIsValid(pk))
		return false;
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pk));
	if (HeapTupleIsValid(tup))
	{
		Form_pg_index idx = (Form_pg_index) GETSTRUCT(tup);

		for (int i = 0; i < idx->indnkeyatts; i++)
			if (idx->indkey.values[i] == attnum)
				found = true;
		ReleaseSysCache(tup);
	}
	return found;
}

/*
 * A neutral value of the column's type, for NOT NULL columns: empty string,
 * 0, epoch, false, empty array/object; unique where a unique index demands
 * it (text types).  NULL when the type has none.
 */
static char *
neutral_value(Oid typid, int32 typmod, bool unique)
{
	Oid			base = getBaseType(typid);
	char		cat;
	bool		pref;
	const char *lit = NULL;
	char	   *tname = format_type_with_typemod(typid, typmod);

	get_type_category_preferred(base, &cat, &pref);
	switch (cat)
	{
		case TYPCATEGORY_STRING:
			if (unique)
				return psprintf("CAST('gdpr:' || pg_catalog.gen_random_uuid() AS %s)", tname);
			lit = "";
			break;
		case TYPCATEGORY_NUMERIC:
			if (unique)
				return NULL;
			lit = "0";
			break;
		case TYPCATEGORY_DATETIME:
			if (base == TIMEOID || base == TIMETZOID)
				lit = "00:00";
			else
				lit = "epoch";
			break;
		case TYPCATEGORY_TIMESPAN:
			lit = "0";
			break;
		case TYPCATEGORY_BOOLEAN:
			lit = "false";
			break;
		case TYPCATEGORY_ARRAY:
			lit = "{}";
			break;
		case TYPCATEGORY_NETWORK:
			lit = (base == MACADDROID) ? "00:00:00:00:00:00" :
				(base == MACADDR8OID) ? "00:00:00:00:00:00:00:00" : "0.0.0.0";
			break;
		default:
			if (base == JSONBOID || base == JSONOID)
				lit = "{}";
			else if (base == UUIDOID)
				lit = "00000000-0000-0000-0000-000000000000";
			else if (base == BYTEAOID)
				lit = "\\x";
			break;
	}
	if (lit == NULL || unique)
		return NULL;
	return psprintf("CAST(%s AS %s)", quote_literal_cstr(lit), tname);
}

/*
 * The tagged columns of rel (the relation as scanned: a leaf partition or
 * a plain table) that may be cleared.
 */
static List *
clear_columns(ExpCtx *ctx, Oid rel)
{
	const GdprTableTags *tags = gdpr_table_tags(rel);
	List	   *cols = NIL;
	List	   *fam = family_of(rel);
	Relation	r;

	if (tags == NULL)
		return NIL;
	r = table_open(rel, AccessShareLock);
	for (int i = 0; i < tags->ncolumns; i++)
	{
		const GdprColumnTag *ct = &tags->columns[i];
		char	   *name = get_attname(rel, ct->attnum, false);
		AttrNumber	attnum = ct->attnum;
		Form_pg_attribute att;
		ClearCol   *cc;
		bool		skip = false;
		ListCell   *lc;

		if (attnum == InvalidAttrNumber)
			continue;
		att = TupleDescAttr(RelationGetDescr(r), attnum - 1);
		if (att->attisdropped || att->attgenerated)
			continue;
		/* never clear keys or the clock */
		if (tags->retain_from == ct->attnum || attnum_is_primary_key(r, attnum))
			continue;
		foreach(lc, ctx->edges)
		{
			RefEdge    *e = (RefEdge *) lfirst(lc);

			for (int k = 0; k < e->nkeys; k++)
			{
				if (list_member_oid(fam, e->parent) &&
					strcmp(get_attname(e->parent, e->pkeys[k], false), name) == 0)
					skip = true;
				if (att->attnotnull && list_member_oid(fam, e->child) &&
					strcmp(get_attname(e->child, e->ckeys[k], false), name) == 0)
					skip = true;
			}
		}
		if (skip)
			continue;

		cc = palloc0(sizeof(ClearCol));
		cc->name = pstrdup(quote_identifier(name));
		if (!att->attnotnull)
		{
			cc->neutral = "NULL";
			cc->cleared = psprintf("t.%s IS NULL", cc->name);
		}
		else
		{
			bool		unique = attnum_in_unique_index(r, attnum);

			cc->neutral = neutral_value(att->atttypid, att->atttypmod, unique);
			if (cc->neutral == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot clear column \"%s\" of relation %s: it is NOT NULL%s and its type %s has no neutral value",
								name, qualified_name(rel), unique ? " UNIQUE" : "",
								format_type_be(att->atttypid)),
						 errhint("Allow NULL in the column, or tag it with purposes without a retention.")));
			if (unique)
				cc->cleared = psprintf("t.%s::text LIKE 'gdpr:%%'", cc->name);
			else
				cc->cleared = psprintf("(t.%s)::text IS NOT DISTINCT FROM (%s)::text",
									   cc->name, cc->neutral);
		}
		cc->expirable = add_purposes(ct, &cc->purposes);
		cols = lappend(cols, cc);
	}
	table_close(r, AccessShareLock);
	return cols;
}

/* ------------------------------------------------------------------------
 * Untagged rows below deleted rows
 * ------------------------------------------------------------------------
 */
static void
delete_tree(ExpCtx *ctx, Oid rel, const char *parent_cte, List *path)
{
	List	   *fam = family_of(rel);
	ListCell   *lc;

	if (list_length(path) > MAX_DEPTH)
		return;
	foreach(lc, ctx->edges)
	{
		RefEdge    *e = (RefEdge *) lfirst(lc);
		char	   *cte;
		StringInfoData cols;
		StringInfoData pcols;

		if (!list_member_oid(fam, e->parent) || path_has(path, e->child) ||
			rel_tagged(e->child) || e->deltype == 'n' || e->deltype == 'd')
			continue;

		cte = psprintf("gdpr_d%d", ++ctx->nctes);
		initStringInfo(&cols);
		initStringInfo(&pcols);
		for (int i = 0; i < e->nkeys; i++)
		{
			appendStringInfo(&cols, "%s%s", i > 0 ? ", " : "",
							 col_ref("c", e->child, e->ckeys[i]));
			appendStringInfo(&pcols, "%s%s", i > 0 ? ", " : "",
							 col_ref("p", e->parent, e->pkeys[i]));
		}
		if (ctx->dry_run)
			appendStringInfo(&ctx->ctes,
							 ",\n%s AS (SELECT c.* FROM %s c WHERE (%s) IN (SELECT %s FROM %s p))",
							 cte, qualified_name(e->child), cols.data, pcols.data, parent_cte);
		else
			appendStringInfo(&ctx->ctes,
							 ",\n%s AS (DELETE FROM %s c WHERE (%s) IN (SELECT %s FROM %s p) RETURNING c.*)",
							 cte, qualified_name(e->child), cols.data, pcols.data, parent_cte);
		ctx->cte_relids = lappend_oid(ctx->cte_relids, root_of(e->child));
		delete_tree(ctx, e->child, cte, lappend_oid(list_copy(path), root_of(e->child)));
	}
}

/* ------------------------------------------------------------------------
 * One batch on one leaf relation
 * ------------------------------------------------------------------------
 */
static char *
join_list(List *items, const char *sep, const char *empty)
{
	StringInfoData buf;
	ListCell   *lc;

	if (items == NIL)
		return (char *) empty;
	initStringInfo(&buf);
	foreach(lc, items)
		appendStringInfo(&buf, "%s%s", foreach_current_index(lc) > 0 ? sep : "",
						 (char *) lfirst(lc));
	return buf.data;
}

static char *
join_or(List *preds)
{
	StringInfoData buf;
	ListCell   *lc;

	if (preds == NIL)
		return "false";
	initStringInfo(&buf);
	foreach(lc, preds)
		appendStringInfo(&buf, "%s(%s)", foreach_current_index(lc) > 0 ? " OR " : "",
						 (char *) lfirst(lc));
	return buf.data;
}

/*
 * Build the statement for one batch on leaf (a plain table, or a leaf
 * partition of a labelled partitioned table).  Returns NULL when nothing
 * of it can expire.  The statement returns one row: deleted, anonymized,
 * nulled, then one count per child deletion CTE.
 */
static char *
build_batch_sql(ExpCtx *ctx, Oid leaf, int limit, bool skip_locked)
{
	List	   *path = list_make1_oid(root_of(leaf));
	List	   *cols = clear_columns(ctx, leaf);
	char	   *clock;
	char	   *rx;
	char	   *kr;
	char	   *td = "false";
	List	   *cleared = NIL;
	List	   *colconds = NIL;
	List	   *anon_set = NIL;
	List	   *nul_set = NIL;
	List	   *thresholds = NIL;
	char	   *rowcond;
	char	   *cond;
	char	   *index_cond = NULL;
	int			dist;
	ListCell   *lc;
	StringInfoData sql;
	const char *rel = quote_qualified_identifier(get_namespace_name(get_rel_namespace(leaf)),
												 get_rel_name(leaf));

	dist = clock_expr(ctx, leaf, "t", path, &clock);
	if (dist < 0)
		return NULL;

	rx = row_expired_expr(ctx, leaf, "t", path);
	kr = strcmp(rx, "false") == 0 ? "false" : keptref_expr(ctx, leaf, "t", path);
	if (!ctx->dry_run && strcmp(rx, "false") != 0)
		td = ref_expr(ctx, leaf, "t", path, true);

	foreach(lc, cols)
	{
		ClearCol   *cc = (ClearCol *) lfirst(lc);
		char	   *cx;

		cleared = lappend(cleared, cc->cleared);
		anon_set = lappend(anon_set, psprintf("%s = %s", cc->name, cc->neutral));
		if (!cc->expirable)
			continue;
		thresholds = lappend(thresholds, threshold_expr(cc->purposes));
		cx = psprintf("COALESCE(%s < %s, false)", clock, threshold_expr(cc->purposes));
		colconds = lappend(colconds, psprintf("%s AND NOT (%s)", cx, cc->cleared));
		nul_set = lappend(nul_set, psprintf("%s = CASE WHEN %s THEN %s ELSE t.%s END",
											cc->name, cx, cc->neutral, cc->name));
	}
	if (strcmp(rx, "false") == 0 && colconds == NIL)
		return NULL;

	/* rows that have run out: anonymize (if not yet) or delete */
	if (strcmp(rx, "false") == 0)
		rowcond = "false";
	else
	{
		char	   *anon_c = psprintf("(%s) AND NOT (%s)", kr, join_list(cleared, " AND ", "true"));
		char	   *del_c;

		if (ctx->dry_run)
			del_c = psprintf("NOT (%s)", kr);
		else
			del_c = psprintf("NOT (%s)", td);	/* td covers kr */
		rowcond = psprintf("%s AND ((%s) OR (%s))", rx, anon_c, del_c);
	}
	cond = psprintf("(%s) OR (NOT %s AND (%s))",
					rowcond, strcmp(rx, "false") == 0 ? "false" : rx,
					join_or(colconds));

	/* a condition an index on the RETAIN FROM column can serve */
	if (dist == 0)
	{
		List	   *all = list_copy(thresholds);
		List	   *rowpurposes = NIL;
		const GdprTableTags *tags = gdpr_table_tags(leaf);
		bool		rowok = true;

		for (int i = 0; i < tags->ncolumns && rowok; i++)
			rowok = add_purposes(&tags->columns[i], &rowpurposes);
		if (rowok)
			all = lappend(all, threshold_expr(rowpurposes));
		if (all != NIL)
		{
			StringInfoData g;

			initStringInfo(&g);
			appendStringInfoString(&g, "GREATEST(");
			foreach(lc, all)
				appendStringInfo(&g, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
								 (char *) lfirst(lc));
			appendStringInfoChar(&g, ')');
			index_cond = psprintf("%s < %s AND ", clock, g.data);
		}
	}

	initStringInfo(&ctx->ctes);
	ctx->cte_relids = NIL;
	initStringInfo(&sql);

	if (ctx->dry_run)
	{
		appendStringInfo(&sql,
						 "WITH gdpr_cand AS MATERIALIZED (SELECT t.*, %s AS gdpr_rx, %s AS gdpr_kr"
						 " FROM ONLY %s t WHERE %s(%s)%s),\n"
						 "gdpr_del AS (SELECT * FROM gdpr_cand WHERE gdpr_rx AND NOT gdpr_kr)",
						 rx, kr, rel, index_cond ? index_cond : "", cond,
						 limit > 0 ? psprintf(" LIMIT %d", limit) : "");
		delete_tree(ctx, leaf, "gdpr_del", path);
		appendStringInfo(&sql, "%s\nSELECT (SELECT count(*) FROM gdpr_del),"
						 " (SELECT count(*) FROM gdpr_cand WHERE gdpr_rx AND gdpr_kr),"
						 " (SELECT count(*) FROM gdpr_cand WHERE NOT gdpr_rx)",
						 ctx->ctes.data);
	}
	else
	{
		appendStringInfo(&sql,
						 "WITH gdpr_cand AS MATERIALIZED (SELECT t.ctid AS tid, %s AS rx, %s AS kr"
						 " FROM ONLY %s t WHERE %s(%s)%s%s),\n"
						 "gdpr_del AS (DELETE FROM ONLY %s t WHERE t.ctid = ANY (ARRAY(SELECT tid FROM gdpr_cand WHERE rx AND NOT kr)) RETURNING t.*)",
						 rx, kr, rel, index_cond ? index_cond : "", cond,
						 limit > 0 ? psprintf(" LIMIT %d", limit) : "",
						 skip_locked ? " FOR UPDATE OF t SKIP LOCKED" : "",
						 rel);
		delete_tree(ctx, leaf, "gdpr_del", path);
		if (anon_set != NIL)
			appendStringInfo(&sql, "%s,\ngdpr_anon AS (UPDATE ONLY %s t SET %s"
							 " WHERE t.ctid = ANY (ARRAY(SELECT tid FROM gdpr_cand WHERE rx AND kr)) RETURNING 1)",
							 ctx->ctes.data, rel, join_list(anon_set, ", ", ""));
		else
			appendStringInfo(&sql, "%s,\ngdpr_anon AS (SELECT 1 WHERE false)", ctx->ctes.data);
		if (nul_set != NIL)
			appendStringInfo(&sql, ",\ngdpr_nul AS (UPDATE ONLY %s t SET %s"
							 " WHERE t.ctid = ANY (ARRAY(SELECT tid FROM gdpr_cand WHERE NOT rx)) RETURNING 1)",
							 rel, join_list(nul_set, ", ", ""));
		else
			appendStringInfoString(&sql, ",\ngdpr_nul AS (SELECT 1 WHERE false)");
		appendStringInfoString(&sql, "\nSELECT (SELECT count(*) FROM gdpr_del),"
							   " (SELECT count(*) FROM gdpr_anon), (SELECT count(*) FROM gdpr_nul)");
	}
	for (int i = 1; i <= list_length(ctx->cte_relids); i++)
		appendStringInfo(&sql, ", (SELECT count(*) FROM gdpr_d%d)", i);
	return sql.data;
}

/* ------------------------------------------------------------------------
 * Driving the batches
 * ------------------------------------------------------------------------
 */
static List *
add_step(List *steps, Oid relid, const char *action, int64 rows)
{
	ListCell   *lc;
	GdprPlanStep *step;

	if (rows <= 0)
		return steps;
	foreach(lc, steps)
	{
		step = (GdprPlanStep *) lfirst(lc);
		if (step->relid == relid && strcmp(step->action, action) == 0)
		{
			step->rows += rows;
			return steps;
		}
	}
	step = palloc(sizeof(GdprPlanStep));
	step->relid = relid;
	step->action = action;
	step->rows = rows;
	return lappend(steps, step);
}

static void
audit_batch(Oid relid, int64 deleted, int64 anonymized, int64 nulled, int64 cascaded)
{
	char	   *json;
	Jsonb	   *details;

	json = psprintf("{\"deleted\": " INT64_FORMAT ", \"anonymized\": " INT64_FORMAT
					", \"nulled\": " INT64_FORMAT ", \"rows\": " INT64_FORMAT
					", \"dependent_rows_deleted\": " INT64_FORMAT "}",
					deleted, anonymized, nulled, deleted + anonymized + nulled, cascaded);
	details = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	gdpr_audit_append("expire", NULL, relid, details);
}

/* leaf relations to scan for relid (itself, or its leaf partitions) */
static List *
leaves_of(Oid relid)
{
	List	   *leaves = NIL;
	ListCell   *lc;

	if (get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		return list_make1_oid(relid);
	foreach(lc, find_all_inheritors(relid, AccessShareLock, NULL))
		if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_RELATION)
			leaves = lappend_oid(leaves, lfirst_oid(lc));
	return leaves;
}

List *
gdpr_expire_relation(Oid relid, int batch_size, bool dry_run, bool skip_locked)
{
	MemoryContext callercxt = CurrentMemoryContext;
	MemoryContext workcxt;
	ExpCtx		ctx;
	List	   *steps = NIL;
	List	   *result = NIL;
	ListCell   *lc;
	int64		done = 0;
	int64		tot_del = 0,
				tot_anon = 0,
				tot_nul = 0,
				tot_casc = 0;
	Oid			report = root_of(relid);
	int			save_nestlevel;

	workcxt = AllocSetContextCreate(CurrentMemoryContext, "gdpr expire",
									ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(workcxt);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "gdpr_crm: SPI_connect failed");
	MemoryContextSwitchTo(workcxt);

	/*
	 * The statements are cheap per row but their estimates look costly: no
	 * JIT (it would cost more than it saves).  Reverted at the end, like a
	 * function's SET clause.
	 */
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	memset(&ctx, 0, sizeof(ctx));
	ctx.dry_run = dry_run;
	ctx.edges = load_edges();

	foreach(lc, leaves_of(relid))
	{
		Oid			leaf = lfirst_oid(lc);
		int			limit = batch_size > 0 ? (int) (batch_size - done) : 0;
		char	   *sql;
		int			ret;
		HeapTuple	tup;
		TupleDesc	desc;
		bool		isnull;
		int64		del,
					anon,
					nul;

		if (batch_size > 0 && limit <= 0)
			break;
		sql = build_batch_sql(&ctx, leaf, limit, skip_locked);
		if (sql == NULL)
			continue;
		elog(DEBUG1, "gdpr_crm expire: %s", sql);
		ret = SPI_execute(sql, false, 0);
		MemoryContextSwitchTo(workcxt);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "gdpr_crm: expiry statement failed: %s", SPI_result_code_string(ret));
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		del = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		anon = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		nul = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		steps = add_step(steps, report, "deleted", del);
		steps = add_step(steps, report, "anonymized", anon);
		steps = add_step(steps, report, "nulled", nul);
		for (int i = 0; i < list_length(ctx.cte_relids); i++)
		{
			int64		n = DatumGetInt64(SPI_getbinval(tup, desc, 4 + i, &isnull));

			steps = add_step(steps, list_nth_oid(ctx.cte_relids, i), "deleted", n);
			tot_casc += n;
		}
		tot_del += del;
		tot_anon += anon;
		tot_nul += nul;
		done += del + anon + nul;
	}

	if (!dry_run && done > 0)
		audit_batch(report, tot_del, tot_anon, tot_nul, tot_casc);

	/* hand the steps to the caller */
	MemoryContextSwitchTo(callercxt);
	foreach(lc, steps)
	{
		GdprPlanStep *s = palloc(sizeof(GdprPlanStep));

		memcpy(s, lfirst(lc), sizeof(GdprPlanStep));
		result = lappend(result, s);
	}
	AtEOXact_GUC(true, save_nestlevel);
	SPI_finish();
	MemoryContextSwitchTo(callercxt);
	MemoryContextDelete(workcxt);
	return result;
}

List *
gdpr_expire_batch(Oid relid, int batch_size, bool dry_run, bool skip_locked)
{
	return gdpr_expire_relation(relid, batch_size, dry_run, skip_locked);
}

/* relid (transitively) references target */
static bool
references(List *edges, Oid relid, Oid target)
{
	List	   *todo = list_make1_oid(relid);
	List	   *seen = list_make1_oid(relid);

	while (todo != NIL)
	{
		Oid			cur = linitial_oid(todo);
		ListCell   *lc;

		todo = list_delete_first(todo);
		foreach(lc, edges)
		{
			RefEdge    *e = (RefEdge *) lfirst(lc);
			Oid			p;

			if (root_of(e->child) != cur)
				continue;
			p = root_of(e->parent);
			if (p == target)
				return true;
			if (!list_member_oid(seen, p))
			{
				seen = lappend_oid(seen, p);
				todo = lappend_oid(todo, p);
			}
		}
	}
	return false;
}

/*
 * Relations with expiry rules: a tagged column whose purposes all have a
 * retention, and a clock.  Ordered children first.
 */
List *
gdpr_expirable_relations(void)
{
	MemoryContext callercxt = CurrentMemoryContext;
	List	   *found = NIL;
	List	   *ordered = NIL;
	List	   *result;
	ListCell   *lc;
	ExpCtx		ctx;

	if (!gdpr_extension_installed())
		return NIL;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "gdpr_crm: SPI_connect failed");
	memset(&ctx, 0, sizeof(ctx));
	ctx.edges = load_edges();

	foreach(lc, gdpr_labelled_relations())
	{
		Oid			relid = lfirst_oid(lc);
		const GdprTableTags *tags = gdpr_table_tags(relid);
		bool		any = false;
		char	   *clock;

		if (tags == NULL || tags->ncolumns == 0 || list_member_oid(found, relid))
			continue;
		for (int i = 0; i < tags->ncolumns && !any; i++)
		{
			List	   *names = NIL;

			any = add_purposes(&tags->columns[i], &names);
		}
		if (!any)
			continue;
		if (clock_expr(&ctx, relid, "t", list_make1_oid(root_of(relid)), &clock) < 0)
			continue;
		found = lappend_oid(found, relid);
	}

	/* children first: take one no remaining relation references */
	while (found != NIL)
	{
		Oid			pick = linitial_oid(found);

		foreach(lc, found)
		{
			Oid			x = lfirst_oid(lc);
			bool		referenced = false;
			ListCell   *lc2;

			foreach(lc2, found)
			{
				Oid			y = lfirst_oid(lc2);

				if (y != x && references(ctx.edges, y, x) &&
					!references(ctx.edges, x, y))
				{
					referenced = true;
					break;
				}
			}
			if (!referenced)
			{
				pick = x;
				break;
			}
		}
		ordered = lappend_oid(ordered, pick);
		found = list_delete_oid(found, pick);
	}

	MemoryContextSwitchTo(callercxt);
	result = list_copy(ordered);
	SPI_finish();
	MemoryContextSwitchTo(callercxt);
	return result;
}

/* ------------------------------------------------------------------------
 * gdpr.retention_run
 * ------------------------------------------------------------------------
 */
void
gdpr_record_run(TimestampTz started, TimestampTz finished, Oid relid,
				const char *action, int64 rows, const char *error,
				const char *source)
{
	Oid			argtypes[7] = {TIMESTAMPTZOID, TIMESTAMPTZOID, OIDOID, TEXTOID,
	INT8OID, TEXTOID, TEXTOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int			ret;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "gdpr_crm: SPI_connect failed");
	values[0] = TimestampTzGetDatum(started);
	values[1] = TimestampTzGetDatum(finished);
	values[2] = ObjectIdGetDatum(relid);
	if (action)
		values[3] = CStringGetTextDatum(action);
	else
		nulls[3] = 'n';
	values[4] = Int64GetDatum(rows);
	if (error)
		values[5] = CStringGetTextDatum(error);
	else
		nulls[5] = 'n';
	values[6] = CStringGetTextDatum(source);
	ret = SPI_execute_with_args("INSERT INTO gdpr.retention_run"
								" (started_at, finished_at, relid, relation_name, action, rows, error, source)"
								" VALUES ($1, $2, $3,"
								" (SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)"
								"    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
								"   WHERE c.oid = $3),"
								" $4, $5, $6, $7)",
								7, argtypes, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "gdpr_crm: logging a retention run failed: %s", SPI_result_code_string(ret));
	SPI_finish();
}

void
gdpr_prune_runs(void)
{
	int			ret;

	if (gdpr_retention_runs_keep < 0)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "gdpr_crm: SPI_connect failed");
	ret = SPI_execute(psprintf("DELETE FROM gdpr.retention_run WHERE finished_at < pg_catalog.now() - '%d min'::interval",
							   gdpr_retention_runs_keep), false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "gdpr_crm: pruning gdpr.retention_run failed: %s", SPI_result_code_string(ret));
	SPI_finish();
}

/* ------------------------------------------------------------------------
 * gdpr.expire(dry_run boolean DEFAULT false)
 *		RETURNS TABLE(relation regclass, action text, rows bigint)
 * ------------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(gdpr_expire);
Datum
gdpr_expire(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		dry_run;
	List	   *rels;
	List	   *all = NIL;
	ListCell   *lc;

	int			save_nestlevel;

	GDPR_REQUIRE_ARG(0, "dry_run");
	dry_run = PG_GETARG_BOOL(0);
	InitMaterializedSRF(fcinfo, 0);
	(void) gdpr_schema_oid(false);

	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	if (!dry_run)
		gdpr_prune_runs();
	rels = gdpr_expirable_relations();
	foreach(lc, rels)
	{
		Oid			relid = lfirst_oid(lc);
		TimestampTz started = GetCurrentTimestamp();
		List	   *steps;
		ListCell   *lc2;

		CHECK_FOR_INTERRUPTS();
		steps = gdpr_expire_relation(relid, 0, dry_run, true);
		foreach(lc2, steps)
		{
			GdprPlanStep *s = (GdprPlanStep *) lfirst(lc2);

			all = add_step(all, s->relid, s->action, s->rows);
			if (!dry_run)
				gdpr_record_run(started, GetCurrentTimestamp(), s->relid,
								s->action, s->rows, NULL, "expire()");
		}
	}

	foreach(lc, all)
	{
		GdprPlanStep *s = (GdprPlanStep *) lfirst(lc);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = ObjectIdGetDatum(s->relid);
		values[1] = CStringGetTextDatum(s->action);
		values[2] = Int64GetDatum(s->rows);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	AtEOXact_GUC(true, save_nestlevel);
	return (Datum) 0;
}

void
gdpr_retention_init(void)
{
}
