/*-------------------------------------------------------------------------
 *
 * graph.c
 *	  The subject graph and the keep-or-anonymize rules (see graph.h).
 *
 * All foreign keys of the database are read once from pg_constraint (the
 * clones PostgreSQL makes for partitions skipped, both ends mapped to their
 * top-most partitioned ancestor) together with the BELONGS TO links of the
 * labels, and kept in a cache of their own.  Subject graphs are built from
 * that and cached per subject table, with the SPI plans of the statements
 * erase runs on them.  Everything is dropped after any relcache
 * invalidation: DDL, a label change (the label hook invalidates the
 * relation) and a purpose change (a statement trigger on gdpr.purpose).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/partition.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "gdpr.h"
#include "graph.h"
#include "graph_int.h"
#include "purposes.h"
#include "tags.h"

/* the cache: foreign keys of the database and subject graphs */
static MemoryContext graph_cxt = NULL;
static bool graph_cache_valid = false;
static bool graph_callback_registered = false;
static List *all_fks = NIL;		/* GdprForeignKey *, in graph_cxt */
static bool all_fks_loaded = false;
static List *graphs = NIL;		/* GdprGraph *, in graph_cxt */

/*
 * A cache generation dropped by an invalidation inside a transaction.  Its
 * graphs may still be in use (gdpr_subject_graph() in the middle of building
 * one, erase holding one across SPI calls that accept invalidations), so its
 * memory and SPI plans are freed only at the end of the transaction.
 */
typedef struct RetiredGraphs
{
	MemoryContext cxt;
	List	   *graphs;			/* GdprGraph *, in cxt */
} RetiredGraphs;

static List *retired = NIL;		/* RetiredGraphs *, in TopMemoryContext */
static uint64 graph_generation = 0;
static bool graph_xact_callback_registered = false;

static void
graph_relcache_callback(Datum arg, Oid relid)
{
	graph_cache_valid = false;
}

static void
free_graph_plans(List *graphs)
{
	ListCell   *lc;

	foreach(lc, graphs)
	{
		GdprGraph  *g = (GdprGraph *) lfirst(lc);
		ListCell   *lc2;

		foreach(lc2, g->plans)
		{
			GdprCachedPlan *cp = (GdprCachedPlan *) lfirst(lc2);

			SPI_freeplan(cp->plan);
		}
	}
}

static void
graph_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (retired == NIL)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			foreach(lc, retired)
			{
				RetiredGraphs *r = (RetiredGraphs *) lfirst(lc);

				free_graph_plans(r->graphs);
				MemoryContextDelete(r->cxt);
				pfree(r);
			}
			list_free(retired);
			retired = NIL;
			break;
		default:
			break;
	}
}

/*
 * Make sure the cache is current: drop everything after an invalidation.
 * Pointers handed out before stay valid until the end of the transaction
 * (or, outside one, until the next call of this).
 */
static void
graph_cache_check(void)
{
	if (!graph_callback_registered)
	{
		CacheRegisterRelcacheCallback(graph_relcache_callback, (Datum) 0);
		graph_callback_registered = true;
	}
	if (graph_cxt != NULL && graph_cache_valid)
		return;

	if (graph_cxt != NULL && IsTransactionState())
	{
		RetiredGraphs *r;
		MemoryContext oldcxt;

		if (!graph_xact_callback_registered)
		{
			RegisterXactCallback(graph_xact_callback, NULL);
			graph_xact_callback_registered = true;
		}
		oldcxt = MemoryContextSwitchTo(TopMemoryContext);
		r = palloc(sizeof(RetiredGraphs));
		r->cxt = graph_cxt;
		r->graphs = graphs;
		retired = lappend(retired, r);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextSetParent(graph_cxt, TopMemoryContext);
		graph_cxt = NULL;
	}
	else if (graph_cxt != NULL)
	{
		free_graph_plans(graphs);
		MemoryContextReset(graph_cxt);
	}
	if (graph_cxt == NULL)
		graph_cxt = AllocSetContextCreate(CacheMemoryContext,
										  "gdpr subject graphs",
										  ALLOCSET_DEFAULT_SIZES);
	graphs = NIL;
	all_fks = NIL;
	all_fks_loaded = false;
	graph_cache_valid = true;
	graph_generation++;
}

/* ----------------------------------------------------------------------
 * Relations
 * ----------------------------------------------------------------------
 */
static Oid
get_partition_parent_oid(Oid relid)
{
	return get_partition_parent(relid, true);
}

Oid
gdpr_top_relation(Oid relid)
{
	Oid			top = relid;

	for (;;)
	{
		HeapTuple	tp;
		bool		ispart;

		tp = SearchSysCache1(RELOID, ObjectIdGetDatum(top));
		if (!HeapTupleIsValid(tp))
			return top;
		ispart = ((Form_pg_class) GETSTRUCT(tp))->relispartition;
		ReleaseSysCache(tp);
		if (!ispart)
			return top;
		top = get_partition_parent_oid(top);
		if (!OidIsValid(top))
			return relid;
	}
}

List *
gdpr_leaf_relations(Oid relid)
{
	char		relkind = get_rel_relkind(relid);
	List	   *result = NIL;
	List	   *todo;

	if (relkind != RELKIND_PARTITIONED_TABLE)
		return list_make1_oid(relid);
	todo = list_make1_oid(relid);
	while (todo != NIL)
	{
		Oid			r = linitial_oid(todo);
		List	   *kids;
		ListCell   *lc;

		todo = list_delete_first(todo);
		kids = find_inheritance_children(r, AccessShareLock);
		foreach(lc, kids)
		{
			Oid			k = lfirst_oid(lc);
			char		kk = get_rel_relkind(k);

			if (kk == RELKIND_PARTITIONED_TABLE)
				todo = lappend_oid(todo, k);
			else if (kk == RELKIND_RELATION)
				result = lappend_oid(result, k);
			/* foreign partitions have no ctid: not reachable by erase */
		}
	}
	return result;
}

/* ----------------------------------------------------------------------
 * Foreign keys
 * ----------------------------------------------------------------------
 */
static char **
attnames_of(Oid relid, ArrayType *attnums, int *n)
{
	Datum	   *elems;
	int			nelems;
	char	  **names;
	int			i;

	deconstruct_array(attnums, INT2OID, 2, true, TYPALIGN_SHORT,
					  &elems, NULL, &nelems);
	names = palloc(sizeof(char *) * nelems);
	for (i = 0; i < nelems; i++)
	{
		char	   *attname = get_attname(relid, DatumGetInt16(elems[i]), false);

		names[i] = pstrdup(quote_identifier(attname));
	}
	*n = nelems;
	return names;
}

static bool
attrs_nullable(Oid relid, ArrayType *attnums)
{
	Datum	   *elems;
	int			nelems;
	int			i;

	deconstruct_array(attnums, INT2OID, 2, true, TYPALIGN_SHORT,
					  &elems, NULL, &nelems);
	for (i = 0; i < nelems; i++)
	{
		HeapTuple	tp;
		bool		notnull;

		tp = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid),
							 Int16GetDatum(DatumGetInt16(elems[i])));
		if (!HeapTupleIsValid(tp))
			return false;
		notnull = ((Form_pg_attribute) GETSTRUCT(tp))->attnotnull;
		ReleaseSysCache(tp);
		if (notnull)
			return false;
	}
	return true;
}

static bool
column_nullable(Oid relid, AttrNumber attnum)
{
	HeapTuple	tp;
	bool		notnull;

	tp = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	if (!HeapTupleIsValid(tp))
		return false;
	notnull = ((Form_pg_attribute) GETSTRUCT(tp))->attnotnull;
	ReleaseSysCache(tp);
	return !notnull;
}

/*
 * Load every foreign key of the database (once per cache generation) and
 * the BELONGS TO links of the labels.
 */
static void
load_all_fks(void)
{
	MemoryContext oldcxt;
	int			ret;
	uint64		i;
	List	   *result = NIL;
	List	   *labelled;
	ListCell   *lc;

	if (all_fks_loaded)
		return;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute("SELECT c.oid, c.conrelid, c.confrelid, c.conkey, c.confkey, "
					  "c.condeferrable, c.confdeltype "
					  "FROM pg_catalog.pg_constraint c "
					  "WHERE c.contype = 'f' AND c.conparentid = 0 "
					  "ORDER BY c.conrelid, c.conname",
					  true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading pg_constraint failed");

	oldcxt = MemoryContextSwitchTo(graph_cxt);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		GdprForeignKey *fk = palloc0(sizeof(GdprForeignKey));
		ArrayType  *conkey;
		ArrayType  *confkey;
		int			n1,
					n2;

		fk->conoid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		fk->child_scan = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		fk->parent_scan = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
		conkey = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 4, &isnull));
		confkey = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 5, &isnull));
		fk->deferrable = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		fk->ondelete = DatumGetChar(SPI_getbinval(tup, desc, 7, &isnull));
		fk->child = gdpr_top_relation(fk->child_scan);
		fk->parent = gdpr_top_relation(fk->parent_scan);
		fk->child_cols = attnames_of(fk->child_scan, conkey, &n1);
		fk->parent_cols = attnames_of(fk->parent_scan, confkey, &n2);
		fk->nkeys = Min(n1, n2);
		fk->child_nullable = attrs_nullable(fk->child_scan, conkey);
		result = lappend(result, fk);
	}
	MemoryContextSwitchTo(oldcxt);
	SPI_finish();

	/* BELONGS TO links */
	labelled = gdpr_labelled_relations();
	foreach(lc, labelled)
	{
		Oid			relid = lfirst_oid(lc);
		const GdprTableTags *tags = gdpr_table_tags(relid);
		const GdprTableTags *stags;
		GdprForeignKey *fk;
		char	   *childcol;
		char	   *parentcol;
		bool		nullable;

		if (tags == NULL || !OidIsValid(tags->belongs_to) ||
			tags->belongs_to_col == InvalidAttrNumber)
			continue;
		childcol = get_attname(relid, tags->belongs_to_col, true);
		nullable = column_nullable(relid, tags->belongs_to_col);
		{
			Oid			parent = gdpr_top_relation(tags->belongs_to);

			stags = gdpr_table_tags(parent);
			if (childcol == NULL || stags == NULL || !stags->is_subject ||
				stags->subject_key == InvalidAttrNumber)
				continue;
			parentcol = get_attname(parent, stags->subject_key, true);
			if (parentcol == NULL)
				continue;
			oldcxt = MemoryContextSwitchTo(graph_cxt);
			fk = palloc0(sizeof(GdprForeignKey));
			fk->conoid = InvalidOid;
			fk->child = fk->child_scan = relid;
			fk->parent = fk->parent_scan = parent;
			fk->nkeys = 1;
			fk->child_cols = palloc(sizeof(char *));
			fk->parent_cols = palloc(sizeof(char *));
			fk->child_cols[0] = pstrdup(quote_identifier(childcol));
			fk->parent_cols[0] = pstrdup(quote_identifier(parentcol));
			fk->child_nullable = nullable;
			fk->deferrable = false;
			fk->ondelete = 'a';
			result = lappend(result, fk);
			MemoryContextSwitchTo(oldcxt);
		}
	}

	all_fks = result;
	all_fks_loaded = true;
}

List *
gdpr_fks_referencing(Oid relid)
{
	List	   *result = NIL;
	ListCell   *lc;

	graph_cache_check();
	load_all_fks();
	foreach(lc, all_fks)
	{
		GdprForeignKey *fk = (GdprForeignKey *) lfirst(lc);

		if (fk->parent == relid)
			result = lappend(result, fk);
	}
	return result;
}

List *
gdpr_fks_of(Oid relid)
{
	List	   *result = NIL;
	ListCell   *lc;

	graph_cache_check();
	load_all_fks();
	foreach(lc, all_fks)
	{
		GdprForeignKey *fk = (GdprForeignKey *) lfirst(lc);

		if (fk->child == relid)
			result = lappend(result, fk);
	}
	return result;
}

/* ----------------------------------------------------------------------
 * Keep-or-anonymize rules
 * ----------------------------------------------------------------------
 */

/* a relation's RETAIN FROM column as a timestamptz expression, or NULL */
static char *
own_clock(Oid relid, const char *alias)
{
	const GdprTableTags *tags = gdpr_table_tags(relid);
	char	   *col;

	if (tags == NULL || tags->retain_from == InvalidAttrNumber)
		return NULL;
	col = get_attname(relid, tags->retain_from, true);
	if (col == NULL)
		return NULL;
	return psprintf("(%s.%s)::pg_catalog.timestamptz", alias, quote_identifier(col));
}

typedef struct ClockPath
{
	Oid			relid;
	GdprForeignKey *via;		/* fk from the previous relation to relid */
	int			prev;			/* index in the BFS array, -1 for the root */
} ClockPath;

#define CLOCK_MAX_DEPTH 6
#define CLOCK_MAX_NODES 256

char *
gdpr_clock_expr(Oid relid, const char *alias)
{
	ClockPath	q[CLOCK_MAX_NODES];
	int			depth[CLOCK_MAX_NODES];
	int			head = 0,
				tail = 0;
	char	   *own;

	own = own_clock(relid, alias);
	if (own != NULL)
		return own;

	q[tail].relid = relid;
	q[tail].via = NULL;
	q[tail].prev = -1;
	depth[tail] = 0;
	tail++;
	while (head < tail)
	{
		int			cur = head++;
		List	   *fks;
		ListCell   *lc;

		if (depth[cur] >= CLOCK_MAX_DEPTH)
			continue;
		fks = gdpr_fks_of(q[cur].relid);
		foreach(lc, fks)
		{
			GdprForeignKey *fk = (GdprForeignKey *) lfirst(lc);
			bool		seen = false;
			int			i;

			for (i = 0; i < tail; i++)
				if (q[i].relid == fk->parent)
					seen = true;
			if (seen || tail >= CLOCK_MAX_NODES)
				continue;
			q[tail].relid = fk->parent;
			q[tail].via = fk;
			q[tail].prev = cur;
			depth[tail] = depth[cur] + 1;

			if (own_clock(fk->parent, "x") != NULL)
			{
				/* build the nested subqueries from the root outwards */
				int			path[CLOCK_MAX_DEPTH + 2];
				int			npath = 0;
				int			n = tail;
				char	   *expr;
				int			k;

				while (n > 0)
				{
					path[npath++] = n;
					n = q[n].prev;
				}
				/* path[npath-1] is the first hop, path[0] the clock table */
				expr = own_clock(fk->parent, psprintf("gdpr_c%d", npath));
				for (k = 0; k < npath; k++)
				{
					int			node = path[k];
					int			level = npath - k;	/* alias number */
					GdprForeignKey *via = q[node].via;
					const char *outer = (level == 1) ? alias : psprintf("gdpr_c%d", level - 1);
					StringInfoData buf;
					int			c;

					initStringInfo(&buf);
					appendStringInfo(&buf, "(SELECT %s FROM %s gdpr_c%d WHERE ",
									 expr, gdpr_relation_name(via->parent), level);
					for (c = 0; c < via->nkeys; c++)
						appendStringInfo(&buf, "%sgdpr_c%d.%s = %s.%s",
										 c > 0 ? " AND " : "", level,
										 via->parent_cols[c], outer,
										 via->child_cols[c]);
					appendStringInfoString(&buf, " LIMIT 1)");
					expr = buf.data;
				}
				return expr;
			}
			tail++;
		}
	}
	return NULL;
}

char *
gdpr_purpose_running_expr(Oid relid, const char *purpose, const char *alias)
{
	const GdprPurpose *p = gdpr_lookup_purpose(purpose);
	char	   *clock;
	char	   *ivtext;

	if (p == NULL || !p->has_retention)
		return pstrdup("true");
	clock = gdpr_clock_expr(relid, alias);
	if (clock == NULL)
		return pstrdup("true");
	ivtext = DatumGetCString(DirectFunctionCall1(interval_out,
												 IntervalPGetDatum(&p->retention)));
	return psprintf("(%s IS NULL OR %s + %s::pg_catalog.interval > pg_catalog.now())",
					clock, clock, quote_literal_cstr(ivtext));
}

/* legal_obligation purposes of one column tag, as a List of char * */
static List *
legal_purposes_of(const GdprColumnTag *tag)
{
	List	   *result = NIL;
	int			i;

	for (i = 0; i < tag->npurposes; i++)
	{
		const GdprPurpose *p = gdpr_lookup_purpose(tag->purposes[i]);

		if (p != NULL && p->basis == GDPR_BASIS_LEGAL_OBLIGATION)
			result = lappend(result, tag->purposes[i]);
	}
	return result;
}

static char *
running_any(Oid relid, List *purposes, const char *alias)
{
	StringInfoData buf;
	ListCell   *lc;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	foreach(lc, purposes)
	{
		appendStringInfo(&buf, "%s%s", first ? "" : " OR ",
						 gdpr_purpose_running_expr(relid, (char *) lfirst(lc), alias));
		first = false;
	}
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

char *
gdpr_keep_expr(Oid relid, const char *alias)
{
	const GdprTableTags *tags = gdpr_table_tags(relid);
	List	   *purposes = NIL;
	int			i;

	if (tags == NULL)
		return NULL;
	for (i = 0; i < tags->ncolumns; i++)
	{
		List	   *lp = legal_purposes_of(&tags->columns[i]);
		ListCell   *lc;

		foreach(lc, lp)
		{
			ListCell   *lc2;
			bool		dup = false;

			foreach(lc2, purposes)
				if (strcmp((char *) lfirst(lc2), (char *) lfirst(lc)) == 0)
					dup = true;
			if (!dup)
				purposes = lappend(purposes, lfirst(lc));
		}
	}
	if (purposes == NIL)
		return NULL;
	return running_any(relid, purposes, alias);
}

/* is the column (by name) part of a unique index of relid or its partitions */
static bool
column_in_unique_index(Oid relid, const char *attname)
{
	List	   *rels = list_make1_oid(relid);
	ListCell   *lc;

	if (get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE)
		rels = list_concat(rels, gdpr_leaf_relations(relid));
	foreach(lc, rels)
	{
		Oid			r = lfirst_oid(lc);
		Relation	rel = relation_open(r, AccessShareLock);
		List	   *indexes = RelationGetIndexList(rel);
		ListCell   *lc2;
		AttrNumber	attnum = get_attnum(r, attname);
		bool		found = false;

		foreach(lc2, indexes)
		{
			HeapTuple	tp = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc2)));
			Form_pg_index idx;
			int			k;

			if (!HeapTupleIsValid(tp))
				continue;
			idx = (Form_pg_index) GETSTRUCT(tp);
			if (idx->indisunique)
				for (k = 0; k < idx->indnkeyatts; k++)
					if (idx->indkey.values[k] == attnum)
						found = true;
			ReleaseSysCache(tp);
		}
		relation_close(rel, AccessShareLock);
		if (found)
			return true;
	}
	return false;
}

/*
 * The column's default as SQL text when it is a constant (a default that
 * calls a volatile function would make every clearing a change, and erase
 * would never be idempotent); NULL otherwise.
 */
static char *
constant_default(Oid relid, AttrNumber attnum)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	Node	   *expr = build_column_default(rel, attnum);
	char	   *result = NULL;

	if (expr != NULL)
	{
		expr = eval_const_expressions(NULL, expr);
		if (IsA(expr, Const) && !((Const *) expr)->constisnull)
		{
			Const	   *c = (Const *) expr;
			Oid			outfunc;
			bool		isvarlena;

			getTypeOutputInfo(c->consttype, &outfunc, &isvarlena);
			result = quote_literal_cstr(OidOutputFunctionCall(outfunc, c->constvalue));
		}
	}
	relation_close(rel, AccessShareLock);
	return result;
}

/*
 * Neutral value of a NOT NULL column, and the test that a value is already
 * neutral.  unique: a unique index covers the column.  value NULL: only
 * find out whether there is one (*is_neutral stays NULL when not).
 */
static void
neutral_value(Oid relid, AttrNumber attnum, char **value, char **is_neutral,
			  const char *colref)
{
	Oid			typid;
	int32		typmod;
	Oid			collid;
	Oid			base;
	char		category;
	bool		preferred;
	const char *lit = NULL;
	char	   *tname;
	char	   *attname = get_attname(relid, attnum, false);
	bool		unique = column_in_unique_index(relid, attname);

	get_atttypetypmodcoll(relid, attnum, &typid, &typmod, &collid);
	base = getBaseType(typid);
	get_type_category_preferred(base, &category, &preferred);
	tname = format_type_with_typemod(typid, typmod);

	if (unique && category == TYPCATEGORY_STRING)
	{
		if (value != NULL)
			*value = psprintf("CAST('erased-' || pg_catalog.nextval('gdpr.erase_seq') AS %s)", tname);
		*is_neutral = psprintf("(%s)::pg_catalog.text LIKE 'erased-%%'", colref);
		return;
	}
	if (unique && category == TYPCATEGORY_NUMERIC)
	{
		if (value != NULL)
			*value = psprintf("CAST(- pg_catalog.nextval('gdpr.erase_seq') AS %s)", tname);
		*is_neutral = psprintf("%s < 0", colref);
		return;
	}
	if (base == TIMEOID || base == TIMETZOID)
		lit = "allballs";
	else if (base == UUIDOID)
		lit = "00000000-0000-0000-0000-000000000000";
	else if (base == JSONOID || base == JSONBOID)
		lit = "{}";
	else if (base == MACADDROID)
		lit = "00:00:00:00:00:00";
	else if (base == MACADDR8OID)
		lit = "00:00:00:00:00:00:00:00";
	else if (base == BYTEAOID)
		lit = "";
	else
	{
		switch (category)
		{
			case TYPCATEGORY_STRING:
				lit = "";
				break;
			case TYPCATEGORY_NUMERIC:
				lit = "0";
				break;
			case TYPCATEGORY_DATETIME:
				lit = "epoch";
				break;
			case TYPCATEGORY_TIMESPAN:
				lit = "0";
				break;
			case TYPCATEGORY_BOOLEAN:
				lit = "false";
				break;
			case TYPCATEGORY_NETWORK:
				lit = "0.0.0.0";
				break;
			case TYPCATEGORY_ARRAY:
				lit = "{}";
				break;
			default:
				break;
		}
	}
	if (lit == NULL && !unique)
	{
		/* the column's own default, when it is a constant, is the DBA's choice */
		char	   *def = constant_default(relid, attnum);

		if (def != NULL)
		{
			char	   *cast = psprintf("CAST(%s AS %s)", def, tname);

			if (value != NULL)
				*value = cast;
			*is_neutral = psprintf("%s IS NOT DISTINCT FROM %s", colref, cast);
			return;
		}
	}
	if (lit == NULL || unique)
	{
		if (value == NULL)
			return;				/* gdpr_column_clearable(): no */
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("column %s of %s cannot be cleared",
						quote_identifier(attname), gdpr_relation_name(relid)),
				 errdetail("The column is NOT NULL and type %s has no neutral value%s.",
						   tname, unique ? " that a unique index accepts" : ""),
				 errhint("%sake the column nullable (ALTER TABLE ... ALTER COLUMN ... DROP NOT NULL) or remove its gdpr label.",
						 unique ? "M" : "Give the column a constant DEFAULT (used as the cleared value), m")));
	}
	{
		char	   *cast = psprintf("CAST(%s AS %s)", quote_literal_cstr(lit), tname);

		if (value != NULL)
			*value = cast;
		*is_neutral = psprintf("%s IS NOT DISTINCT FROM %s", colref, cast);
	}
}

bool
gdpr_column_clearable(Oid relid, AttrNumber attnum)
{
	char	   *is_neutral = NULL;

	if (column_nullable(relid, attnum))
		return true;
	neutral_value(relid, attnum, NULL, &is_neutral, "x");
	return is_neutral != NULL;
}

char *
gdpr_clear_value_expr(Oid relid, AttrNumber attnum)
{
	char	   *isn;

	return gdpr_clear_value_test(relid, attnum, "x", &isn);
}

char *
gdpr_clear_value_test(Oid relid, AttrNumber attnum, const char *colref,
					  char **is_neutral)
{
	char	   *value;

	if (column_nullable(relid, attnum))
	{
		*is_neutral = psprintf("%s IS NULL", colref);
		return pstrdup("NULL");
	}
	neutral_value(relid, attnum, &value, is_neutral, colref);
	return value;
}

/*
 * May a tagged column be cleared at all?  Not when other rows reference it
 * (part of a referenced key), nor a NOT NULL foreign key column, nor a
 * partition key column, nor a generated column.
 */
static bool
column_clearable(Oid relid, AttrNumber attnum)
{
	char	   *attname = get_attname(relid, attnum, true);
	const char *qname;
	ListCell   *lc;
	List	   *fks;
	HeapTuple	tp;
	bool		generated;

	if (attname == NULL)
		return false;
	qname = quote_identifier(attname);

	tp = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	if (!HeapTupleIsValid(tp))
		return false;
	generated = ((Form_pg_attribute) GETSTRUCT(tp))->attgenerated != '\0' ||
		((Form_pg_attribute) GETSTRUCT(tp))->attisdropped;
	ReleaseSysCache(tp);
	if (generated)
		return false;

	fks = gdpr_fks_referencing(relid);
	foreach(lc, fks)
	{
		GdprForeignKey *fk = (GdprForeignKey *) lfirst(lc);
		int			i;

		if (!OidIsValid(fk->conoid))
			continue;
		for (i = 0; i < fk->nkeys; i++)
			if (strcmp(fk->parent_cols[i], qname) == 0)
				return false;
	}
	if (!column_nullable(relid, attnum))
	{
		fks = gdpr_fks_of(relid);
		foreach(lc, fks)
		{
			GdprForeignKey *fk = (GdprForeignKey *) lfirst(lc);
			int			i;

			for (i = 0; i < fk->nkeys; i++)
				if (strcmp(fk->child_cols[i], qname) == 0)
					return false;
		}
	}
	if (get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE)
	{
		Relation	rel = relation_open(relid, AccessShareLock);
		PartitionKey key = RelationGetPartitionKey(rel);
		bool		inkey = false;
		int			i;

		for (i = 0; key != NULL && i < key->partnatts; i++)
			if (key->partattrs[i] == attnum)
				inkey = true;
		relation_close(rel, AccessShareLock);
		if (inkey)
			return false;
	}
	return true;
}

static void
anonymize_exprs(Oid relid, const char *alias, char **setlist, char **needed)
{
	const GdprTableTags *tags = gdpr_table_tags(relid);
	StringInfoData set;
	StringInfoData need;
	int			i;
	int			n = 0;

	*setlist = NULL;
	*needed = NULL;
	if (tags == NULL || tags->ncolumns == 0)
		return;
	initStringInfo(&set);
	initStringInfo(&need);
	for (i = 0; i < tags->ncolumns; i++)
	{
		const GdprColumnTag *tag = &tags->columns[i];
		char	   *attname;
		char	   *colref;
		char	   *value;
		char	   *isneutral;
		List	   *lp;

		if (!column_clearable(relid, tag->attnum))
			continue;
		attname = get_attname(relid, tag->attnum, false);
		colref = psprintf("%s.%s", alias, quote_identifier(attname));
		value = gdpr_clear_value_test(relid, tag->attnum, colref, &isneutral);

		lp = legal_purposes_of(tag);
		if (n > 0)
		{
			appendStringInfoString(&set, ", ");
			appendStringInfoString(&need, " OR ");
		}
		if (lp != NIL)
		{
			char	   *run = running_any(relid, lp, alias);

			appendStringInfo(&set, "%s = CASE WHEN %s THEN %s ELSE %s END",
							 quote_identifier(attname), run, colref, value);
			appendStringInfo(&need, "(NOT %s AND NOT (%s))", run, isneutral);
		}
		else
		{
			appendStringInfo(&set, "%s = %s", quote_identifier(attname), value);
			appendStringInfo(&need, "NOT (%s)", isneutral);
		}
		n++;
	}
	if (n == 0)
		return;
	*setlist = set.data;
	*needed = psprintf("(%s)", need.data);
}

char *
gdpr_anonymize_set_list(Oid relid, const char *alias)
{
	char	   *s,
			   *n;

	anonymize_exprs(relid, alias, &s, &n);
	return s;
}

char *
gdpr_anonymize_needed_expr(Oid relid, const char *alias)
{
	char	   *s,
			   *n;

	anonymize_exprs(relid, alias, &s, &n);
	return n;
}

/* ----------------------------------------------------------------------
 * Subject graphs
 * ----------------------------------------------------------------------
 */
static bool
is_subject_table(Oid relid)
{
	const GdprTableTags *tags = gdpr_table_tags(relid);

	return tags != NULL && tags->is_subject;
}

static bool
has_tagged_columns(Oid relid)
{
	const GdprTableTags *tags = gdpr_table_tags(relid);

	return tags != NULL && tags->ncolumns > 0;
}

static int
graph_node_index(GdprGraph *g, Oid relid)
{
	int			i;

	for (i = 0; i < g->nnodes; i++)
		if (g->nodes[i].relid == relid)
			return i;
	return -1;
}

static int
graph_add_node(GdprGraph *g, Oid relid, char role)
{
	GdprGraphNode *n;
	List	   *leaves;
	ListCell   *lc;
	int			i;

	if (g->nnodes == g->maxnodes)
	{
		g->maxnodes *= 2;
		g->nodes = repalloc(g->nodes, sizeof(GdprGraphNode) * g->maxnodes);
	}
	n = &g->nodes[g->nnodes];
	memset(n, 0, sizeof(GdprGraphNode));
	n->relid = relid;
	n->role = role;
	n->qname = gdpr_relation_name(relid);
	n->partitioned = (get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE);
	leaves = gdpr_leaf_relations(relid);
	n->nleaves = list_length(leaves);
	n->leaves = palloc(sizeof(Oid) * Max(n->nleaves, 1));
	n->leafnames = palloc(sizeof(char *) * Max(n->nleaves, 1));
	i = 0;
	foreach(lc, leaves)
	{
		n->leaves[i] = lfirst_oid(lc);
		n->leafnames[i] = gdpr_relation_name(lfirst_oid(lc));
		i++;
	}
	return g->nnodes++;
}

static void
graph_add_edge(GdprGraph *g, char kind, int child, int parent, GdprForeignKey *fk)
{
	GdprGraphEdge *e;

	if (g->nedges == g->maxedges)
	{
		g->maxedges *= 2;
		g->edges = repalloc(g->edges, sizeof(GdprGraphEdge) * g->maxedges);
	}
	e = &g->edges[g->nedges++];
	e->kind = kind;
	e->child = child;
	e->parent = parent;
	e->fk = fk;
}


static GdprGraph *
build_graph(Oid subject)
{
	GdprGraph  *g;
	const GdprTableTags *tags;
	int			head;
	int			i;
	char	   *keycol;

	tags = gdpr_table_tags(subject);
	if (tags == NULL || !tags->is_subject || tags->subject_key == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation %s is not a subject table", gdpr_relation_name(subject)),
				 errhint("Register it first: SECURITY LABEL FOR gdpr ON TABLE %s IS 'SUBJECT KEY (column)', or gdpr.register_subject_table().",
						 gdpr_relation_name(subject))));

	g = palloc0(sizeof(GdprGraph));
	g->subject = subject;
	g->keyattnum = tags->subject_key;
	keycol = get_attname(subject, tags->subject_key, false);
	g->keycol = pstrdup(quote_identifier(keycol));
	get_atttypetypmodcoll(subject, tags->subject_key, &g->keytype, &g->keytypmod, &g->keycoll);
	g->maxnodes = 8;
	g->nodes = palloc(sizeof(GdprGraphNode) * g->maxnodes);
	g->maxedges = 16;
	g->edges = palloc(sizeof(GdprGraphEdge) * g->maxedges);

	graph_add_node(g, subject, GDPR_ROLE_SUBJECT);

	/* rows that reference the subject's rows, level by level */
	for (head = 0; head < g->nnodes; head++)
	{
		List	   *fks;
		ListCell   *lc;

		if (g->nodes[head].role != GDPR_ROLE_SUBJECT &&
			g->nodes[head].role != GDPR_ROLE_DOWN)
			continue;
		fks = gdpr_fks_referencing(g->nodes[head].relid);
		foreach(lc, fks)
		{
			GdprForeignKey *fk = (GdprForeignKey *) lfirst(lc);
			int			c = graph_node_index(g, fk->child);

			if (is_subject_table(fk->child))
			{
				/* another subject (self reference included): clear the link */
				if (c < 0)
					c = graph_add_node(g, fk->child, GDPR_ROLE_LINK);
				graph_add_edge(g, GDPR_EDGE_LINK, c, head, fk);
			}
			else
			{
				if (c < 0)
					c = graph_add_node(g, fk->child, GDPR_ROLE_DOWN);
				graph_add_edge(g, GDPR_EDGE_DOWN, c, head, fk);
			}
		}
	}

	/* rows the subject's rows point to: candidates when they hold tags */
	for (head = 0; head < g->nnodes; head++)
	{
		List	   *fks;
		ListCell   *lc;

		if (!role_is_set(g->nodes[head].role))
			continue;
		fks = gdpr_fks_of(g->nodes[head].relid);
		foreach(lc, fks)
		{
			GdprForeignKey *fk = (GdprForeignKey *) lfirst(lc);
			int			p = graph_node_index(g, fk->parent);

			if (p >= 0 && role_is_set(g->nodes[p].role) &&
				g->nodes[p].role != GDPR_ROLE_UP)
				continue;		/* already a DOWN edge */
			if (p < 0 || g->nodes[p].role == GDPR_ROLE_OUTSIDE)
			{
				List	   *in;
				ListCell   *lc2;

				if (is_subject_table(fk->parent) || !has_tagged_columns(fk->parent))
					continue;
				if (p < 0)
					p = graph_add_node(g, fk->parent, GDPR_ROLE_UP);
				else
					g->nodes[p].role = GDPR_ROLE_UP;
				/* every key into it decides whether it is shared */
				in = gdpr_fks_referencing(fk->parent);
				foreach(lc2, in)
				{
					GdprForeignKey *ifk = (GdprForeignKey *) lfirst(lc2);
					int			x = graph_node_index(g, ifk->child);

					if (x < 0)
						x = graph_add_node(g, ifk->child, GDPR_ROLE_OUTSIDE);
					graph_add_edge(g, GDPR_EDGE_IN, x, p, ifk);
				}
			}
			else if (g->nodes[p].role != GDPR_ROLE_UP)
				continue;		/* another subject table, or a link table */
			graph_add_edge(g, GDPR_EDGE_UP, head, p, fk);
		}
	}

	/* per-node rules */
	for (i = 0; i < g->nnodes; i++)
	{
		GdprGraphNode *n = &g->nodes[i];

		if (!role_is_set(n->role))
			continue;
		n->keep_expr = gdpr_keep_expr(n->relid, "t");
		anonymize_exprs(n->relid, "t", &n->set_list, &n->needed_expr);
	}
	return g;
}

GdprGraph *
gdpr_subject_graph(Oid subject)
{
	ListCell   *lc;
	GdprGraph  *g;
	MemoryContext oldcxt;
	MemoryContext buildcxt;
	uint64		gen;

	graph_cache_check();
	foreach(lc, graphs)
	{
		g = (GdprGraph *) lfirst(lc);
		if (g->subject == subject)
			return g;
	}
	load_all_fks();
	elog(DEBUG1, "gdpr: building the subject graph of %s", gdpr_relation_name(subject));
	gen = graph_generation;
	buildcxt = graph_cxt;
	oldcxt = MemoryContextSwitchTo(buildcxt);
	g = build_graph(subject);
	if (gen == graph_generation)
		graphs = lappend(graphs, g);
	else
	{
		/*
		 * The cache was dropped while the graph was built (the build accepts
		 * invalidations): the graph belongs to a retired generation, valid
		 * to the end of the transaction; its plans are freed with it.
		 */
		foreach(lc, retired)
		{
			RetiredGraphs *r = (RetiredGraphs *) lfirst(lc);

			if (r->cxt == buildcxt)
				r->graphs = lappend(r->graphs, g);
		}
	}
	MemoryContextSwitchTo(oldcxt);
	return g;
}

/*
 * A saved SPI plan for a statement text of graph g (prepared once per
 * graph generation).
 */
SPIPlanPtr
gdpr_graph_plan(GdprGraph *g, const char *sql, int nargs, Oid *argtypes)
{
	ListCell   *lc;
	GdprCachedPlan *cp;
	SPIPlanPtr	plan;
	MemoryContext oldcxt;

	foreach(lc, g->plans)
	{
		cp = (GdprCachedPlan *) lfirst(lc);
		if (cp->nargs == nargs && strcmp(cp->sql, sql) == 0)
			return cp->plan;
	}
	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);
	elog(DEBUG1, "gdpr: preparing %s", sql);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	/* with the graph, whose generation frees it */
	oldcxt = MemoryContextSwitchTo(GetMemoryChunkContext(g));
	cp = palloc(sizeof(GdprCachedPlan));
	cp->sql = pstrdup(sql);
	cp->nargs = nargs;
	cp->plan = plan;
	g->plans = lappend(g->plans, cp);
	MemoryContextSwitchTo(oldcxt);
	return plan;
}
