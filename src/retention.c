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
 * The reference graph, the clock, neutral values and the anonymization of a
 * row come from graph.c (shared with erase).  What is expire's own lives
 * here: "run out" thresholds per purpose, "kept by a row that stays"
 * (ref_expr), the column-by-column clearing (clear_columns; it could move
 * to graph.c), and the deletion of untagged rows below (delete_tree).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
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
#include "utils/partcache.h"
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

typedef struct ExpCtx
{
	int			aliasno;
	int			nctes;
	bool		dry_run;
	StringInfoData ctes;		/* deletions of untagged rows below */
	List	   *cte_relids;		/* relation of each child deletion CTE */
} ExpCtx;

/* ------------------------------------------------------------------------
 * The reference graph: foreign keys and BELONGS TO links as graph.c sees
 * them (both ends top-most relations).
 * ------------------------------------------------------------------------
 */
static bool
rel_tagged(Oid relid)
{
	const GdprTableTags *tags = gdpr_table_tags(relid);

	return tags != NULL && tags->ncolumns > 0;
}

/* ON DELETE action of a foreign key; 'b' for a BELONGS TO link */
static char
fk_deltype(const GdprForeignKey *fk)
{
	HeapTuple	tp;
	char		t = 'a';

	if (!OidIsValid(fk->conoid))
		return 'b';
	tp = SearchSysCache1(CONSTROID, ObjectIdGetDatum(fk->conoid));
	if (HeapTupleIsValid(tp))
	{
		t = ((Form_pg_constraint) GETSTRUCT(tp))->confdeltype;
		ReleaseSysCache(tp);
	}
	return t;
}

static char *
new_alias(ExpCtx *ctx)
{
	return psprintf("g%d", ++ctx->aliasno);
}

/* "(a.k1, a.k2)" of the child (child = true) or parent side of fk */
static char *
key_list(const GdprForeignKey *fk, const char *alias, bool child)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (fk->nkeys > 1)
		appendStringInfoChar(&buf, '(');
	for (int i = 0; i < fk->nkeys; i++)
		appendStringInfo(&buf, "%s%s.%s", i > 0 ? ", " : "", alias,
						 child ? fk->child_cols[i] : fk->parent_cols[i]);
	if (fk->nkeys > 1)
		appendStringInfoChar(&buf, ')');
	return buf.data;
}

/* ------------------------------------------------------------------------
 * Expressions (rel is always a top-most relation)
 * ------------------------------------------------------------------------
 */
static char *
interval_literal(const Interval *iv)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(interval_out,
														IntervalPGetDatum(iv)));

	return psprintf("%s::pg_catalog.interval", quote_literal_cstr(s));
}

/*
 * Add the purposes of a column tag to *names (distinct); false when one of
 * them never runs out (no retention, or unknown).
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

/*
 * The moment before which a clock has run out for all the given purposes:
 * "LEAST(now() - r1, now() - r2)".
 */
static char *
threshold_expr(List *names)
{
	StringInfoData buf;
	ListCell   *lc;

	/* a scalar subquery: an init plan, computed once per statement */
	initStringInfo(&buf);
	appendStringInfoString(&buf, "(SELECT ");
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
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * The clock of rel's rows: the own RETAIN FROM column as it is (compared
 * across types, and indexable), or graph.c's clock of the nearest
 * referenced row.  NULL when there is none.
 */
static char *
clock_of(Oid rel, const char *alias)
{
	const GdprTableTags *tags = gdpr_table_tags(rel);

	if (tags != NULL && tags->retain_from != InvalidAttrNumber)
	{
		char	   *col = get_attname(rel, tags->retain_from, true);

		if (col != NULL)
			return psprintf("%s.%s", alias, quote_identifier(col));
	}
	return gdpr_clock_expr(rel, alias);
}

/* the row has run out as a whole; "false" when it never does */
static char *
row_expired_expr(Oid rel, const char *alias)
{
	const GdprTableTags *tags = gdpr_table_tags(rel);
	List	   *names = NIL;
	char	   *clock;

	if (tags == NULL || tags->ncolumns == 0)
		return "false";
	for (int i = 0; i < tags->ncolumns; i++)
		if (!add_purposes(&tags->columns[i], &names))
			return "false";
	clock = clock_of(rel, alias);
	if (clock == NULL)
		return "false";
	return psprintf("COALESCE(%s < %s, false)", clock, threshold_expr(names));
}

static char *ref_expr(ExpCtx *ctx, Oid rel, const char *alias, List *path,
					  bool tagged_any);

/* the row stays (is not deleted); "true"/"false" when constant */
static char *
kept_expr(ExpCtx *ctx, Oid rel, const char *alias, List *path)
{
	char	   *kr;

	if (rel_tagged(rel))
	{
		char	   *rx = row_expired_expr(rel, alias);

		if (strcmp(rx, "false") == 0)
			return "true";
		kr = ref_expr(ctx, rel, alias, path, false);
		if (strcmp(kr, "false") == 0)
			return psprintf("(NOT %s)", rx);
		return psprintf("(NOT %s OR %s)", rx, kr);
	}
	return ref_expr(ctx, rel, alias, path, false);
}

/*
 * tagged_any = false: some row that stays references this row, directly or
 * through untagged rows.  tagged_any = true: some tagged row at all does.
 * In a cycle (a self reference) any referencing row counts: the
 * conservative choice never deletes a row something still points to.
 */
static char *
ref_expr(ExpCtx *ctx, Oid rel, const char *alias, List *path, bool tagged_any)
{
	ListCell   *lc;
	StringInfoData buf;
	int			nterms = 0;

	if (list_length(path) > MAX_DEPTH)
		return "true";
	initStringInfo(&buf);
	foreach(lc, gdpr_fks_referencing(rel))
	{
		GdprForeignKey *fk = (GdprForeignKey *) lfirst(lc);
		char	   *calias = new_alias(ctx);
		char	   *pred;

		if (list_member_oid(path, fk->child))
			pred = "true";
		else
		{
			List	   *cpath = lappend_oid(list_copy(path), fk->child);

			if (tagged_any)
				pred = rel_tagged(fk->child) ? "true" :
					ref_expr(ctx, fk->child, calias, cpath, true);
			else
				pred = kept_expr(ctx, fk->child, calias, cpath);
		}
		if (strcmp(pred, "false") == 0)
			continue;

		/*
		 * "key IN (uncorrelated subquery)": a hashed subplan, evaluated once
		 * per statement, not once per row.
		 */
		appendStringInfo(&buf, "%sCOALESCE(%s IN (SELECT %s FROM %s %s%s%s), false)",
						 nterms++ > 0 ? " OR " : "",
						 key_list(fk, alias, false), key_list(fk, calias, true),
						 gdpr_relation_name(fk->child_scan), calias,
						 strcmp(pred, "true") == 0 ? "" : " WHERE ",
						 strcmp(pred, "true") == 0 ? "" : pred);
	}
	if (nterms == 0)
		return "false";
	if (nterms == 1)
		return buf.data;
	return psprintf("(%s)", buf.data);
}

/* ------------------------------------------------------------------------
 * Clearing single columns whose purposes ran out
 * ------------------------------------------------------------------------
 */
typedef struct ClearCol
{
	char	   *name;			/* quoted */
	char	   *neutral;		/* SQL expression (graph.c's clear value) */
	char	   *cleared;		/* SQL predicate over alias t */
	List	   *purposes;		/* names, for the column's threshold */
} ClearCol;

static bool
attnum_is_key(Relation r, AttrNumber attnum)
{
	Oid			pk = RelationGetPrimaryKeyIndex(r);
	bool		found = false;

	if (OidIsValid(pk))
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pk));

		if (HeapTupleIsValid(tup))
		{
			Form_pg_index idx = (Form_pg_index) GETSTRUCT(tup);

			for (int i = 0; i < idx->indnkeyatts; i++)
				if (idx->indkey.values[i] == attnum)
					found = true;
			ReleaseSysCache(tup);
		}
	}
	if (r->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		PartitionKey key = RelationGetPartitionKey(r);

		for (int i = 0; key != NULL && i < key->partnatts; i++)
			if (key->partattrs[i] == attnum)
				found = true;
	}
	return found;
}

/*
 * The tagged columns of rel (top-most) that may be cleared one by one when
 * their purposes run out: not key columns (primary, partition, referenced,
 * NOT NULL foreign key), not the RETAIN FROM column (the clock must stay),
 * and only where every purpose has a retention.
 */
static List *
clear_columns(Oid rel)
{
	const GdprTableTags *tags = gdpr_table_tags(rel);
	List	   *cols = NIL;
	Relation	r;

	if (tags == NULL)
		return NIL;
	r = relation_open(rel, AccessShareLock);
	for (int i = 0; i < tags->ncolumns; i++)
	{
		const GdprColumnTag *ct = &tags->columns[i];
		Form_pg_attribute att;
		ClearCol   *cc;
		bool		skip = false;
		ListCell   *lc;
		List	   *names = NIL;

		if (ct->attnum <= 0 || ct->attnum > RelationGetDescr(r)->natts)
			continue;
		att = TupleDescAttr(RelationGetDescr(r), ct->attnum - 1);
		if (att->attisdropped || att->attgenerated ||
			tags->retain_from == ct->attnum || attnum_is_key(r, ct->attnum) ||
			!add_purposes(ct, &names))
			continue;
		cc = palloc0(sizeof(ClearCol));
		cc->name = pstrdup(quote_identifier(NameStr(att->attname)));
		foreach(lc, gdpr_fks_referencing(rel))
		{
			GdprForeignKey *fk = (GdprForeignKey *) lfirst(lc);

			for (int k = 0; k < fk->nkeys; k++)
				if (OidIsValid(fk->conoid) && strcmp(fk->parent_cols[k], cc->name) == 0)
					skip = true;
		}
		if (att->attnotnull)
		{
			foreach(lc, gdpr_fks_of(rel))
			{
				GdprForeignKey *fk = (GdprForeignKey *) lfirst(lc);

				for (int k = 0; k < fk->nkeys; k++)
					if (strcmp(fk->child_cols[k], cc->name) == 0)
						skip = true;
			}
		}
		if (skip)
			continue;

		/* the neutral value is graph.c's (one definition for erase and expire) */
		cc->neutral = gdpr_clear_value_expr(rel, ct->attnum);
		if (strcmp(cc->neutral, "NULL") == 0)
			cc->cleared = psprintf("t.%s IS NULL", cc->name);
		else if (strstr(cc->neutral, "'erased-' ||") != NULL)
			cc->cleared = psprintf("(t.%s)::pg_catalog.text LIKE 'erased-%%'", cc->name);
		else if (strstr(cc->neutral, "- pg_catalog.nextval") != NULL)
			cc->cleared = psprintf("t.%s < 0", cc->name);
		else
			cc->cleared = psprintf("t.%s IS NOT DISTINCT FROM %s", cc->name, cc->neutral);
		cc->purposes = names;
		cols = lappend(cols, cc);
	}
	relation_close(r, AccessShareLock);
	return cols;
}

/* ------------------------------------------------------------------------
 * Untagged rows below deleted rows (order lines below an order)
 * ------------------------------------------------------------------------
 */
/*
 * What a deletion CTE of rel returns: the columns that rows below refer to
 * (not the whole row: materializing it costs more than the deletion).
 */
static char *
returning_list(Oid rel, const char *alias)
{
	List	   *cols = NIL;
	ListCell   *lc;
	StringInfoData buf;

	foreach(lc, gdpr_fks_referencing(rel))
	{
		GdprForeignKey *fk = (GdprForeignKey *) lfirst(lc);

		for (int i = 0; i < fk->nkeys; i++)
		{
			ListCell   *lc2;
			bool		seen = false;

			foreach(lc2, cols)
				if (strcmp((char *) lfirst(lc2), fk->parent_cols[i]) == 0)
					seen = true;
			if (!seen)
				cols = lappend(cols, fk->parent_cols[i]);
		}
	}
	if (cols == NIL)
		return "1";
	initStringInfo(&buf);
	foreach(lc, cols)
		appendStringInfo(&buf, "%s%s.%s", foreach_current_index(lc) > 0 ? ", " : "",
						 alias, (char *) lfirst(lc));
	return buf.data;
}

static void
delete_tree(ExpCtx *ctx, Oid rel, const char *parent_cte, List *path)
{
	ListCell   *lc;

	if (list_length(path) > MAX_DEPTH)
		return;
	foreach(lc, gdpr_fks_referencing(rel))
	{
		GdprForeignKey *fk = (GdprForeignKey *) lfirst(lc);
		char		deltype = fk_deltype(fk);
		char	   *cte;

		/*
		 * SET NULL / SET DEFAULT: those rows survive their parent.  ON
		 * DELETE CASCADE: the foreign key deletes them (its trigger fires
		 * per deleted row anyway), as it would for a plain DELETE; they are
		 * the schema's doing and not listed.
		 */
		if (list_member_oid(path, fk->child) || rel_tagged(fk->child) ||
			deltype == 'n' || deltype == 'd' || deltype == 'c')
			continue;

		cte = psprintf("gdpr_d%d", ++ctx->nctes);
		if (ctx->dry_run)
			appendStringInfo(&ctx->ctes,
							 ",\n%s AS (SELECT c.* FROM %s c WHERE %s IN (SELECT %s FROM %s p))",
							 cte, gdpr_relation_name(fk->child_scan),
							 key_list(fk, "c", true), key_list(fk, "p", false), parent_cte);
		else
			appendStringInfo(&ctx->ctes,
							 ",\n%s AS (DELETE FROM %s c WHERE %s IN (SELECT %s FROM %s p) RETURNING %s)",
							 cte, gdpr_relation_name(fk->child_scan),
							 key_list(fk, "c", true), key_list(fk, "p", false), parent_cte,
							 returning_list(fk->child, "c"));
		ctx->cte_relids = lappend_oid(ctx->cte_relids, fk->child);
		delete_tree(ctx, fk->child, cte, lappend_oid(list_copy(path), fk->child));
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

/*
 * Build the statement for one batch on leaf (a plain table, or a leaf
 * partition of a labelled partitioned table).  Returns NULL when nothing
 * of it can expire.  The statement returns one row: deleted, anonymized,
 * nulled, then one count per child deletion CTE.
 */
static char *
build_batch_sql(ExpCtx *ctx, Oid leaf, int limit, bool skip_locked)
{
	Oid			top = gdpr_top_relation(leaf);
	const GdprTableTags *tags = gdpr_table_tags(top);
	List	   *path = list_make1_oid(top);
	List	   *cols;
	char	   *clock;
	char	   *rx;
	char	   *kr = "false";
	char	   *td = "false";
	char	   *anon_set;
	char	   *anon_needed;
	List	   *colconds = NIL;
	List	   *nul_set = NIL;
	List	   *thresholds = NIL;
	char	   *rowcond;
	char	   *cond;
	char	   *index_cond = "";
	List	   *rowpurposes = NIL;
	bool		rowok = true;
	bool		direct = !ctx->dry_run && !skip_locked && limit <= 0;
	ListCell   *lc;
	StringInfoData sql;
	const char *rel = gdpr_relation_name(leaf);

	if (tags == NULL || tags->ncolumns == 0)
		return NULL;
	clock = clock_of(top, "t");
	if (clock == NULL)
		return NULL;

	rx = row_expired_expr(top, "t");
	if (strcmp(rx, "false") != 0)
	{
		kr = ref_expr(ctx, top, "t", path, false);
		if (!ctx->dry_run)
			td = ref_expr(ctx, top, "t", path, true);
	}

	/* the purposes of the row, when all of them have a retention */
	for (int i = 0; i < tags->ncolumns && rowok; i++)
		rowok = add_purposes(&tags->columns[i], &rowpurposes);

	/* column level: each column whose purposes all ran out */
	cols = clear_columns(top);
	foreach(lc, cols)
	{
		ClearCol   *cc = (ClearCol *) lfirst(lc);
		char	   *th = threshold_expr(cc->purposes);
		char	   *cx = psprintf("COALESCE(%s < %s, false)", clock, th);

		thresholds = lappend(thresholds, th);

		/* tagged with every purpose of the row: runs out with the row */
		if (rowok && list_length(cc->purposes) == list_length(rowpurposes))
			continue;
		colconds = lappend(colconds, psprintf("%s AND NOT (%s)", cx, cc->cleared));
		nul_set = lappend(nul_set, psprintf("%s = CASE WHEN %s THEN %s ELSE t.%s END",
											cc->name, cx, cc->neutral, cc->name));
	}
	if (strcmp(rx, "false") == 0 && colconds == NIL)
		return NULL;

	/* row level: anonymize (the same rules as erase) or delete */
	anon_set = gdpr_anonymize_set_list(top, "t");
	anon_needed = gdpr_anonymize_needed_expr(top, "t");
	if (strcmp(rx, "false") == 0)
		rowcond = "false";
	else
	{
		char	   *anon_c = anon_needed ?
			psprintf("(%s) AND %s", kr, anon_needed) : "false";

		/* a real run also waits for tagged rows below that must go first */
		rowcond = psprintf("%s AND ((%s) OR NOT (%s))", rx, anon_c,
						   ctx->dry_run ? kr : td);
	}
	cond = psprintf("(%s) OR (NOT %s AND ((%s)))",
					rowcond, rx, join_list(colconds, ") OR (", "false"));

	/* a condition an index on the own RETAIN FROM column can serve */
	if (tags->retain_from != InvalidAttrNumber)
	{
		char	   *col = get_attname(top, tags->retain_from, false);

		if (rowok)
			thresholds = lappend(thresholds, threshold_expr(rowpurposes));
		if (thresholds != NIL)
			index_cond = psprintf("t.%s < GREATEST(%s) AND ", quote_identifier(col),
								  join_list(thresholds, ", ", ""));
	}

	initStringInfo(&ctx->ctes);
	ctx->cte_relids = NIL;
	ctx->nctes = 0;
	initStringInfo(&sql);

	if (direct)
	{
		/*
		 * One pass without limit and without skipping locked rows
		 * (gdpr.expire()): no candidate list, each action a statement of its
		 * own over the rows that qualify for it (disjoint: rx and kr decide),
		 * waiting for rows others hold like any DELETE and re-checking them
		 * afterwards.  Costs what a plain DELETE costs.
		 */
		bool		rows_expire = strcmp(rx, "false") != 0;
		bool		anon_possible = rows_expire && strcmp(kr, "false") != 0 &&
			anon_set != NULL && anon_needed != NULL;

		/* in a WHERE clause the row condition needs no COALESCE */
		if (rows_expire && rowok)
			appendStringInfo(&sql,
							 "WITH gdpr_del AS (DELETE FROM ONLY %s t WHERE %s < %s%s%s%s RETURNING %s)",
							 rel, clock, threshold_expr(rowpurposes),
							 strcmp(td, "false") == 0 ? "" : " AND NOT (",
							 strcmp(td, "false") == 0 ? "" : td,
							 strcmp(td, "false") == 0 ? "" : ")",
							 returning_list(top, "t"));
		else if (rows_expire)
			appendStringInfo(&sql,
							 "WITH gdpr_del AS (DELETE FROM ONLY %s t WHERE %s%s AND NOT (%s) RETURNING %s)",
							 rel, index_cond, rx, td, returning_list(top, "t"));
		else
			appendStringInfoString(&sql, "WITH gdpr_del AS (SELECT 1 WHERE false)");
		if (rows_expire)
			delete_tree(ctx, top, "gdpr_del", path);
		appendStringInfoString(&sql, ctx->ctes.data);
		if (anon_possible)
			appendStringInfo(&sql, ",\ngdpr_anon AS (UPDATE ONLY %s t SET %s WHERE %s%s AND (%s) AND %s RETURNING 1)",
							 rel, anon_set, index_cond, rx, kr, anon_needed);
		else
			appendStringInfoString(&sql, ",\ngdpr_anon AS (SELECT 1 WHERE false)");
		if (nul_set != NIL)
			appendStringInfo(&sql, ",\ngdpr_nul AS (UPDATE ONLY %s t SET %s WHERE %sNOT %s AND ((%s)) RETURNING 1)",
							 rel, join_list(nul_set, ", ", ""), index_cond, rx,
							 join_list(colconds, ") OR (", "false"));
		else
			appendStringInfoString(&sql, ",\ngdpr_nul AS (SELECT 1 WHERE false)");
		appendStringInfoString(&sql, "\nSELECT (SELECT count(*) FROM gdpr_del),"
							   " (SELECT count(*) FROM gdpr_anon), (SELECT count(*) FROM gdpr_nul)");
	}
	else if (ctx->dry_run)
	{
		appendStringInfo(&sql,
						 "WITH gdpr_cand AS MATERIALIZED (SELECT t.*, %s AS gdpr_rx, %s AS gdpr_kr"
						 " FROM ONLY %s t WHERE %s(%s)%s),\n"
						 "gdpr_del AS (SELECT * FROM gdpr_cand WHERE gdpr_rx AND NOT gdpr_kr)",
						 rx, kr, rel, index_cond, cond,
						 limit > 0 ? psprintf(" LIMIT %d", limit) : "");
		delete_tree(ctx, top, "gdpr_del", path);
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
						 "gdpr_del AS (DELETE FROM ONLY %s t WHERE t.ctid = ANY (ARRAY(SELECT tid FROM gdpr_cand WHERE rx AND NOT kr)) RETURNING %s)",
						 rx, kr, rel, index_cond, cond,
						 limit > 0 ? psprintf(" LIMIT %d", limit) : "",
						 skip_locked ? " FOR UPDATE OF t SKIP LOCKED" : "",
						 rel, returning_list(top, "t"));
		delete_tree(ctx, top, "gdpr_del", path);
		appendStringInfoString(&sql, ctx->ctes.data);
		if (anon_set != NULL)
			appendStringInfo(&sql, ",\ngdpr_anon AS (UPDATE ONLY %s t SET %s"
							 " WHERE t.ctid = ANY (ARRAY(SELECT tid FROM gdpr_cand WHERE rx AND kr)) RETURNING 1)",
							 rel, anon_set);
		else
			appendStringInfoString(&sql, ",\ngdpr_anon AS (SELECT 1 WHERE false)");
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
	Oid			report = gdpr_top_relation(relid);
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

	/*
	 * Without a batch limit a pass may touch millions of rows, and the row
	 * counts of the CTEs are unknown to the planner: hash joins, not nested
	 * loops of index probes, and room for the hash tables.
	 */
	if (batch_size <= 0)
	{
		(void) set_config_option("enable_nestloop", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		if (work_mem < 64 * 1024)
			(void) set_config_option("work_mem", "64MB", PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
	}

	memset(&ctx, 0, sizeof(ctx));
	ctx.dry_run = dry_run;
	foreach(lc, gdpr_leaf_relations(relid))
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

/* relid (transitively) references target; both top-most */
static bool
references(Oid relid, Oid target)
{
	List	   *todo = list_make1_oid(relid);
	List	   *seen = list_make1_oid(relid);

	while (todo != NIL)
	{
		Oid			cur = linitial_oid(todo);
		ListCell   *lc;

		todo = list_delete_first(todo);
		foreach(lc, gdpr_fks_of(cur))
		{
			GdprForeignKey *fk = (GdprForeignKey *) lfirst(lc);

			if (fk->parent == target)
				return true;
			if (!list_member_oid(seen, fk->parent))
			{
				seen = lappend_oid(seen, fk->parent);
				todo = lappend_oid(todo, fk->parent);
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

	if (!gdpr_extension_installed())
		return NIL;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "gdpr_crm: SPI_connect failed");

	foreach(lc, gdpr_labelled_relations())
	{
		Oid			relid = lfirst_oid(lc);
		const GdprTableTags *tags = gdpr_table_tags(relid);
		bool		any = false;

		relid = gdpr_top_relation(relid);
		tags = gdpr_table_tags(relid);
		if (tags == NULL || tags->ncolumns == 0 || list_member_oid(found, relid))
			continue;
		for (int i = 0; i < tags->ncolumns && !any; i++)
		{
			List	   *names = NIL;

			any = add_purposes(&tags->columns[i], &names);
		}
		if (!any)
			continue;
		if (gdpr_clock_expr(relid, "t") == NULL)
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

				if (y != x && references(y, x) &&
					!references(x, y))
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
static void
expire_pass(FunctionCallInfo fcinfo, bool dry_run, int batch_size)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *rels;
	List	   *all = NIL;
	ListCell   *lc;
	int			save_nestlevel;

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

		/* batches (skipping locked rows) until one comes back short */
		for (;;)
		{
			TimestampTz started = GetCurrentTimestamp();
			List	   *steps;
			ListCell   *lc2;
			int64		done = 0;

			CHECK_FOR_INTERRUPTS();
			steps = gdpr_expire_relation(relid, batch_size, dry_run, batch_size > 0);
			foreach(lc2, steps)
			{
				GdprPlanStep *s = (GdprPlanStep *) lfirst(lc2);

				all = add_step(all, s->relid, s->action, s->rows);
				if (s->relid == gdpr_top_relation(relid))
					done += s->rows;
				if (!dry_run)
					gdpr_record_run(started, GetCurrentTimestamp(), s->relid,
									s->action, s->rows, NULL, "expire()");
			}
			if (batch_size <= 0 || done < batch_size)
				break;
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
}

/*
 * gdpr.expire(dry_run boolean DEFAULT false)
 *		RETURNS TABLE(relation regclass, action text, rows bigint)
 *
 * One full pass, one statement per relation; rows others hold are waited
 * for (and re-checked), like a DELETE.
 */
PG_FUNCTION_INFO_V1(gdpr_expire);
Datum
gdpr_expire(PG_FUNCTION_ARGS)
{
	GDPR_REQUIRE_ARG(0, "dry_run");
	expire_pass(fcinfo, PG_GETARG_BOOL(0), 0);
	return (Datum) 0;
}

/*
 * gdpr.expire_nowait(batch_size integer DEFAULT 10000)
 *		RETURNS TABLE(relation regclass, action text, rows bigint)
 *
 * One full pass the way the worker does it: batches of batch_size rows,
 * rows others hold skipped (FOR UPDATE SKIP LOCKED), never waiting for
 * them; in the caller's transaction.
 */
PG_FUNCTION_INFO_V1(gdpr_expire_nowait);
Datum
gdpr_expire_nowait(PG_FUNCTION_ARGS)
{
	int32		batch_size;

	GDPR_REQUIRE_ARG(0, "batch_size");
	batch_size = PG_GETARG_INT32(0);
	if (batch_size <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be positive, not %d", batch_size),
				 errhint("Give the number of rows per batch, e.g. 10000.")));
	expire_pass(fcinfo, false, batch_size);
	return (Datum) 0;
}

void
gdpr_retention_init(void)
{
}
