/*-------------------------------------------------------------------------
 *
 * erase.c
 *	  gdpr.erase(): erasure of one data subject (API sections 5 and 11),
 *	  and gdpr._subject_reach(): every row of a subject.
 *
 * The work is set-based: the subject's rows are collected relation by
 * relation, one statement per edge of the subject graph (graph.c), as
 * (partition, ctid) pairs; then the rows to keep are found (inside the
 * retention of a legal_obligation purpose, and everything a kept row
 * references), and finally one statement deletes, anonymizes and unlinks
 * everything at once.  Foreign-key checks of one statement run at its end,
 * so the order of the deletes does not matter and cycles of keys (deferrable
 * or not) need no SET CONSTRAINTS.  All statements are prepared once per
 * subject graph and kept with it.
 *
 * Whatever goes wrong (a trigger that refuses, a policy, a concurrent
 * change) raises an error, and the transaction takes everything back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "audit.h"
#include "gdpr.h"
#include "graph.h"
#include "graph_int.h"

PG_FUNCTION_INFO_V1(gdpr_erase);
PG_FUNCTION_INFO_V1(gdpr_subject_reach);

/* the consent capability removes the consent history (consent.h) */
extern int64 gdpr_consent_erase_subject(Oid subject_relid, Datum key,
										Oid keytype) __attribute__((weak));

void
gdpr_erase_init(void)
{
}

/* ----------------------------------------------------------------------
 * Row bookkeeping
 * ----------------------------------------------------------------------
 */
#define ROW_SET		0x01		/* the subject's row */
#define ROW_STAY	0x02		/* stays (kept or anonymized) */
#define ROW_ANON	0x04		/* stays and has something to clear */
#define ROW_CAND	0x08		/* candidate of an UP node */
#define ROW_LINK	0x10		/* another subject's link to clear */

typedef struct RowKey
{
	Oid			leaf;
	ItemPointerData tid;
} RowKey;

typedef struct RowEntry
{
	RowKey		key;
	int			node;
	uint8		flags;
} RowEntry;

typedef struct TidVec
{
	int			n;
	int			cap;
	ItemPointerData *tids;
} TidVec;

typedef struct EraseState
{
	GdprGraph  *g;
	HTAB	   *rows;
	TidVec	  **set;			/* [node][leaf] */
	TidVec	  **frontier;
	TidVec	  **stay;
	TidVec	  **stayfront;
	TidVec	  **anon;
	TidVec	  **dele;
	TidVec	  **linkall;		/* [node][leaf]: rows of LINK nodes */
	TidVec	  **linkedge;		/* [edge][leaf of child] */
	int64	   *nshared;		/* [node] candidates kept because shared */
	int64	   *nlink;			/* [node] */
	int64	   *ndeleted;
	int64	   *nanon;
	int64	   *nkept;
	int		   *queue;
	bool	   *inqueue;
	int			qhead;
	int			qtail;
	MemoryContext cxt;
} EraseState;

typedef struct Params
{
	int			n;
	int			cap;
	Oid		   *types;
	Datum	   *values;
} Params;

static TidVec *
tidvecs(int n)
{
	return palloc0(sizeof(TidVec) * Max(n, 1));
}

static void
tidvec_add(TidVec *v, ItemPointer tid)
{
	if (v->n == v->cap)
	{
		v->cap = v->cap == 0 ? 16 : v->cap * 2;
		if (v->tids == NULL)
			v->tids = palloc(sizeof(ItemPointerData) * v->cap);
		else
			v->tids = repalloc_huge(v->tids, sizeof(ItemPointerData) * v->cap);
	}
	ItemPointerCopy(tid, &v->tids[v->n]);
	v->n++;
}

static Datum
tidvec_array(TidVec *v)
{
	Datum	   *elems;
	int			i;

	if (v->n == 0)
		return PointerGetDatum(construct_empty_array(TIDOID));
	elems = palloc(sizeof(Datum) * v->n);
	for (i = 0; i < v->n; i++)
		elems[i] = PointerGetDatum(&v->tids[i]);
	return PointerGetDatum(construct_array(elems, v->n, TIDOID,
										   sizeof(ItemPointerData), false,
										   TYPALIGN_SHORT));
}

static int
nvec_rows(TidVec *vecs, int n)
{
	int			i,
				total = 0;

	for (i = 0; i < n; i++)
		total += vecs[i].n;
	return total;
}

static int
add_param(Params *p, Oid type, Datum value)
{
	if (p->n == p->cap)
	{
		p->cap = p->cap == 0 ? 8 : p->cap * 2;
		p->types = p->types ? repalloc(p->types, sizeof(Oid) * p->cap) : palloc(sizeof(Oid) * p->cap);
		p->values = p->values ? repalloc(p->values, sizeof(Datum) * p->cap) : palloc(sizeof(Datum) * p->cap);
	}
	p->types[p->n] = type;
	p->values[p->n] = value;
	return ++p->n;
}

static int
leaf_index(GdprGraphNode *n, Oid leaf)
{
	int			i;

	for (i = 0; i < n->nleaves; i++)
		if (n->leaves[i] == leaf)
			return i;
	return -1;
}

static RowEntry *
row_lookup(EraseState *st, Oid leaf, ItemPointer tid, bool create, bool *found)
{
	RowKey		key;

	memset(&key, 0, sizeof(key));
	key.leaf = leaf;
	ItemPointerCopy(tid, &key.tid);
	return (RowEntry *) hash_search(st->rows, &key,
									create ? HASH_ENTER : HASH_FIND, found);
}

static void
queue_push(EraseState *st, int node)
{
	if (st->inqueue[node])
		return;
	st->inqueue[node] = true;
	st->queue[st->qtail % st->g->nnodes] = node;
	st->qtail++;
}

static int
queue_pop(EraseState *st)
{
	int			node;

	if (st->qhead == st->qtail)
		return -1;
	node = st->queue[st->qhead % st->g->nnodes];
	st->qhead++;
	st->inqueue[node] = false;
	return node;
}

/* "FROM ONLY" for a table, plain "FROM" for a partitioned one */
static const char *
scan_only(Oid relid)
{
	return get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ";
}

/*
 * Append "SELECT p.c1, p.c2 FROM ONLY leaf p WHERE p.ctid = ANY($k) UNION
 * ALL ..." for the rows of node in vecs.
 */
static void
append_source(StringInfo buf, GdprGraphNode *node, TidVec *vecs,
			  char **cols, int ncols, Params *params)
{
	int			l;

	for (l = 0; l < node->nleaves; l++)
	{
		int			c;
		int			pn = add_param(params, TIDARRAYOID, tidvec_array(&vecs[l]));

		if (l > 0)
			appendStringInfoString(buf, " UNION ALL ");
		appendStringInfoString(buf, "SELECT ");
		for (c = 0; c < ncols; c++)
			appendStringInfo(buf, "%sgdpr_s.%s", c > 0 ? ", " : "", cols[c]);
		appendStringInfo(buf, " FROM ONLY %s gdpr_s WHERE gdpr_s.ctid OPERATOR(pg_catalog.=) ANY ($%d)",
						 node->leafnames[l], pn);
	}
	if (node->nleaves == 0)
	{
		int			c;

		appendStringInfoString(buf, "SELECT ");
		for (c = 0; c < ncols; c++)
			appendStringInfo(buf, "%sNULL", c > 0 ? ", " : "");
		appendStringInfoString(buf, " WHERE false");
	}
}

/* "(a.c1, a.c2)" */
static void
append_cols(StringInfo buf, const char *alias, char **cols, int ncols)
{
	int			c;

	appendStringInfoChar(buf, '(');
	for (c = 0; c < ncols; c++)
		appendStringInfo(buf, "%s%s.%s", c > 0 ? ", " : "", alias, cols[c]);
	appendStringInfoChar(buf, ')');
}

/* run a statement of the graph that returns (tableoid, ctid) rows */
static void
run_rows(EraseState *st, const char *sql, Params *params)
{
	SPIPlanPtr	plan = gdpr_graph_plan(st->g, sql, params->n, params->types);
	int			ret;

	ret = SPI_execute_plan(plan, params->values, NULL, false, 0);
	if (ret != SPI_OK_SELECT && ret != SPI_OK_SELINTO)
		elog(ERROR, "gdpr.erase: statement failed: %s", SPI_result_code_string(ret));
}

static inline void
result_row(uint64 i, Oid *leaf, ItemPointer *tid)
{
	bool		isnull;
	HeapTuple	tup = SPI_tuptable->vals[i];

	*leaf = DatumGetObjectId(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
	*tid = (ItemPointer) DatumGetPointer(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
}

/* ----------------------------------------------------------------------
 * Collecting the subject's rows
 * ----------------------------------------------------------------------
 */
static EraseState *
erase_state_create(GdprGraph *g)
{
	EraseState *st = palloc0(sizeof(EraseState));
	HASHCTL		ctl;
	int			i;

	st->g = g;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(RowKey);
	ctl.entrysize = sizeof(RowEntry);
	ctl.hcxt = CurrentMemoryContext;
	st->rows = hash_create("gdpr erase rows", 1024, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	st->set = palloc(sizeof(TidVec *) * g->nnodes);
	st->frontier = palloc(sizeof(TidVec *) * g->nnodes);
	st->stay = palloc(sizeof(TidVec *) * g->nnodes);
	st->stayfront = palloc(sizeof(TidVec *) * g->nnodes);
	st->anon = palloc(sizeof(TidVec *) * g->nnodes);
	st->dele = palloc(sizeof(TidVec *) * g->nnodes);
	st->linkall = palloc(sizeof(TidVec *) * g->nnodes);
	st->linkedge = palloc(sizeof(TidVec *) * Max(g->nedges, 1));
	for (i = 0; i < g->nnodes; i++)
	{
		int			nl = g->nodes[i].nleaves;

		st->set[i] = tidvecs(nl);
		st->frontier[i] = tidvecs(nl);
		st->stay[i] = tidvecs(nl);
		st->stayfront[i] = tidvecs(nl);
		st->anon[i] = tidvecs(nl);
		st->dele[i] = tidvecs(nl);
		st->linkall[i] = tidvecs(nl);
	}
	for (i = 0; i < g->nedges; i++)
		st->linkedge[i] = tidvecs(g->nodes[g->edges[i].child].nleaves);
	st->nshared = palloc0(sizeof(int64) * g->nnodes);
	st->nlink = palloc0(sizeof(int64) * g->nnodes);
	st->ndeleted = palloc0(sizeof(int64) * g->nnodes);
	st->nanon = palloc0(sizeof(int64) * g->nnodes);
	st->nkept = palloc0(sizeof(int64) * g->nnodes);
	st->queue = palloc0(sizeof(int) * g->nnodes);
	st->inqueue = palloc0(sizeof(bool) * g->nnodes);
	return st;
}

/* add the (tableoid, ctid) rows of the last statement to node's set */
static int
absorb_set_rows(EraseState *st, int node)
{
	GdprGraphNode *n = &st->g->nodes[node];
	uint64		i;
	int			added = 0;
	uint64		nrows = SPI_processed;

	for (i = 0; i < nrows; i++)
	{
		Oid			leaf;
		ItemPointer tid;
		int			l;
		bool		found;
		RowEntry   *e;

		result_row(i, &leaf, &tid);
		l = leaf_index(n, leaf);
		if (l < 0)
			continue;			/* an inheritance child outside the graph */
		e = row_lookup(st, leaf, tid, true, &found);
		if (found && (e->flags & ROW_SET))
			continue;
		if (!found)
			e->flags = 0;
		e->node = node;
		e->flags |= ROW_SET;
		tidvec_add(&st->set[node][l], tid);
		tidvec_add(&st->frontier[node][l], tid);
		added++;
	}
	return added;
}

static void
collect(EraseState *st, Datum key, bool lock)
{
	GdprGraph  *g = st->g;
	StringInfoData sql;
	Params		params = {0};
	int			node;
	int			i;

	/* 1. the subject's own row(s), locked so no new child row can appear */
	initStringInfo(&sql);
	add_param(&params, g->keytype, key);
	appendStringInfo(&sql,
					 "SELECT t.tableoid, t.ctid FROM %s%s t WHERE t.%s = $1%s",
					 scan_only(g->subject), g->nodes[0].qname, g->keycol,
					 lock ? " FOR UPDATE OF t" : "");
	run_rows(st, sql.data, &params);
	if (absorb_set_rows(st, 0) == 0)
		return;
	queue_push(st, 0);

	/* 2. rows that reference them, level by level (cycles: to a fixpoint) */
	while ((node = queue_pop(st)) >= 0)
	{
		GdprGraphNode *pn = &g->nodes[node];
		TidVec	   *cur = st->frontier[node];

		st->frontier[node] = tidvecs(pn->nleaves);
		if (nvec_rows(cur, pn->nleaves) == 0)
			continue;
		for (i = 0; i < g->nedges; i++)
		{
			GdprGraphEdge *e = &g->edges[i];

			if (e->kind != GDPR_EDGE_DOWN || e->parent != node)
				continue;
			resetStringInfo(&sql);
			memset(&params, 0, sizeof(params));
			appendStringInfo(&sql, "SELECT c.tableoid, c.ctid FROM %s%s c WHERE ",
							 scan_only(e->fk->child_scan),
							 gdpr_relation_name(e->fk->child_scan));
			append_cols(&sql, "c", e->fk->child_cols, e->fk->nkeys);
			appendStringInfoString(&sql, " IN (");
			append_source(&sql, pn, cur, e->fk->parent_cols, e->fk->nkeys, &params);
			appendStringInfoChar(&sql, ')');
			run_rows(st, sql.data, &params);
			if (absorb_set_rows(st, e->child) > 0)
				queue_push(st, e->child);
		}
	}

	/* 3. rows the subject's rows point to, when nothing else points there */
	for (node = 0; node < g->nnodes; node++)
	{
		GdprGraphNode *un = &g->nodes[node];
		TidVec	   *cand;
		uint64		r;
		int			ncand = 0;
		bool		first;

		if (un->role != GDPR_ROLE_UP)
			continue;
		cand = tidvecs(un->nleaves);
		for (i = 0; i < g->nedges; i++)
		{
			GdprGraphEdge *e = &g->edges[i];

			if (e->kind != GDPR_EDGE_UP || e->parent != node)
				continue;
			if (nvec_rows(st->set[e->child], g->nodes[e->child].nleaves) == 0)
				continue;
			resetStringInfo(&sql);
			memset(&params, 0, sizeof(params));
			appendStringInfo(&sql, "SELECT t.tableoid, t.ctid FROM %s%s t WHERE ",
							 scan_only(e->fk->parent_scan),
							 gdpr_relation_name(e->fk->parent_scan));
			append_cols(&sql, "t", e->fk->parent_cols, e->fk->nkeys);
			appendStringInfoString(&sql, " IN (");
			append_source(&sql, &g->nodes[e->child], st->set[e->child],
						  e->fk->child_cols, e->fk->nkeys, &params);
			appendStringInfoChar(&sql, ')');
			run_rows(st, sql.data, &params);
			for (r = 0; r < SPI_processed; r++)
			{
				Oid			leaf;
				ItemPointer tid;
				int			l;
				bool		found;
				RowEntry   *re;

				result_row(r, &leaf, &tid);
				l = leaf_index(un, leaf);
				if (l < 0)
					continue;
				re = row_lookup(st, leaf, tid, true, &found);
				if (!found)
				{
					re->flags = 0;
					re->node = node;
				}
				if (re->flags & (ROW_SET | ROW_CAND))
					continue;
				re->flags |= ROW_CAND;
				tidvec_add(&cand[l], tid);
				ncand++;
			}
		}
		if (ncand == 0)
			continue;

		/* the candidates no row outside the set points to */
		resetStringInfo(&sql);
		memset(&params, 0, sizeof(params));
		for (i = 0; i < un->nleaves; i++)
		{
			int			pn = add_param(&params, TIDARRAYOID, tidvec_array(&cand[i]));
			int			k;

			if (i > 0)
				appendStringInfoString(&sql, " UNION ALL ");
			appendStringInfo(&sql, "SELECT t.tableoid, t.ctid FROM ONLY %s t WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($%d)",
							 un->leafnames[i], pn);
			first = true;
			for (k = 0; k < g->nedges; k++)
			{
				GdprGraphEdge *e = &g->edges[k];
				GdprGraphNode *xn = &g->nodes[e->child];

				if (e->kind != GDPR_EDGE_IN || e->parent != node)
					continue;
				appendStringInfoString(&sql, " AND ");
				if (role_is_set(xn->role) &&
					nvec_rows(st->set[e->child], xn->nleaves) > 0)
				{
					appendStringInfo(&sql, "(SELECT pg_catalog.count(*) FROM %s%s x WHERE ",
									 scan_only(e->fk->child_scan),
									 gdpr_relation_name(e->fk->child_scan));
					append_cols(&sql, "x", e->fk->child_cols, e->fk->nkeys);
					appendStringInfoString(&sql, " = ");
					append_cols(&sql, "t", e->fk->parent_cols, e->fk->nkeys);
					appendStringInfoString(&sql, ") = (SELECT pg_catalog.count(*) FROM (");
					append_source(&sql, xn, st->set[e->child], e->fk->child_cols,
								  e->fk->nkeys, &params);
					appendStringInfoString(&sql, ") x WHERE ");
					append_cols(&sql, "x", e->fk->child_cols, e->fk->nkeys);
					appendStringInfoString(&sql, " = ");
					append_cols(&sql, "t", e->fk->parent_cols, e->fk->nkeys);
					appendStringInfoChar(&sql, ')');
				}
				else
				{
					appendStringInfo(&sql, "NOT EXISTS (SELECT 1 FROM %s%s x WHERE ",
									 scan_only(e->fk->child_scan),
									 gdpr_relation_name(e->fk->child_scan));
					append_cols(&sql, "x", e->fk->child_cols, e->fk->nkeys);
					appendStringInfoString(&sql, " = ");
					append_cols(&sql, "t", e->fk->parent_cols, e->fk->nkeys);
					appendStringInfoChar(&sql, ')');
				}
				first = false;
			}
		}
		(void) first;
		run_rows(st, sql.data, &params);
		for (r = 0; r < SPI_processed; r++)
		{
			Oid			leaf;
			ItemPointer tid;
			int			l;
			bool		found;
			RowEntry   *re;

			result_row(r, &leaf, &tid);
			l = leaf_index(un, leaf);
			re = row_lookup(st, leaf, tid, false, &found);
			if (l < 0 || re == NULL)
				continue;
			re->flags |= ROW_SET;
			tidvec_add(&st->set[node][l], tid);
		}
		st->nshared[node] = ncand - (int64) SPI_processed;
	}
}

/* ----------------------------------------------------------------------
 * Deciding: keep, anonymize, delete; links to clear
 * ----------------------------------------------------------------------
 */
static int
absorb_stay_rows(EraseState *st, int node, bool must_be_in_set)
{
	GdprGraphNode *n = &st->g->nodes[node];
	uint64		i;
	int			added = 0;
	uint64		nrows = SPI_processed;

	for (i = 0; i < nrows; i++)
	{
		Oid			leaf;
		ItemPointer tid;
		int			l;
		bool		found;
		RowEntry   *e;

		result_row(i, &leaf, &tid);
		l = leaf_index(n, leaf);
		if (l < 0)
			continue;
		e = row_lookup(st, leaf, tid, false, &found);
		if (e == NULL || !(e->flags & ROW_SET) || (e->flags & ROW_STAY))
			continue;
		e->flags |= ROW_STAY;
		tidvec_add(&st->stay[node][l], tid);
		tidvec_add(&st->stayfront[node][l], tid);
		added++;
	}
	return added;
}

/* "SELECT t.tableoid, t.ctid FROM ONLY leaf t WHERE t.ctid = ANY($k) AND cond UNION ALL ..." */
static void
append_filter(StringInfo buf, GdprGraphNode *n, TidVec *vecs, const char *cond,
			  Params *params)
{
	int			l;

	for (l = 0; l < n->nleaves; l++)
	{
		int			pn = add_param(params, TIDARRAYOID, tidvec_array(&vecs[l]));

		if (l > 0)
			appendStringInfoString(buf, " UNION ALL ");
		appendStringInfo(buf, "SELECT t.tableoid, t.ctid FROM ONLY %s t WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($%d) AND (%s)",
						 n->leafnames[l], pn, cond);
	}
}

static void
decide(EraseState *st)
{
	GdprGraph  *g = st->g;
	StringInfoData sql;
	Params		params;
	int			node;
	int			i;

	initStringInfo(&sql);

	/* 1. rows inside the retention of a legal_obligation purpose */
	for (node = 0; node < g->nnodes; node++)
	{
		GdprGraphNode *n = &g->nodes[node];

		if (!role_is_set(n->role) || n->keep_expr == NULL ||
			nvec_rows(st->set[node], n->nleaves) == 0)
			continue;
		resetStringInfo(&sql);
		memset(&params, 0, sizeof(params));
		append_filter(&sql, n, st->set[node], n->keep_expr, &params);
		run_rows(st, sql.data, &params);
		if (absorb_stay_rows(st, node, true) > 0)
			queue_push(st, node);
	}

	/* 2. everything a staying row references stays too */
	while ((node = queue_pop(st)) >= 0)
	{
		GdprGraphNode *cn = &g->nodes[node];
		TidVec	   *cur = st->stayfront[node];

		st->stayfront[node] = tidvecs(cn->nleaves);
		if (nvec_rows(cur, cn->nleaves) == 0)
			continue;
		for (i = 0; i < g->nedges; i++)
		{
			GdprGraphEdge *e = &g->edges[i];

			if ((e->kind != GDPR_EDGE_DOWN && e->kind != GDPR_EDGE_UP) ||
				e->child != node)
				continue;
			resetStringInfo(&sql);
			memset(&params, 0, sizeof(params));
			appendStringInfo(&sql, "SELECT p.tableoid, p.ctid FROM %s%s p WHERE ",
							 scan_only(e->fk->parent_scan),
							 gdpr_relation_name(e->fk->parent_scan));
			append_cols(&sql, "p", e->fk->parent_cols, e->fk->nkeys);
			appendStringInfoString(&sql, " IN (");
			append_source(&sql, cn, cur, e->fk->child_cols, e->fk->nkeys, &params);
			appendStringInfoChar(&sql, ')');
			run_rows(st, sql.data, &params);
			if (absorb_stay_rows(st, e->parent, true) > 0)
				queue_push(st, e->parent);
		}
	}

	/* 3. staying rows that still hold something to clear */
	for (node = 0; node < g->nnodes; node++)
	{
		GdprGraphNode *n = &g->nodes[node];
		int			nstay;
		uint64		r;

		if (!role_is_set(n->role))
			continue;
		nstay = nvec_rows(st->stay[node], n->nleaves);
		if (nstay == 0)
			continue;
		if (n->needed_expr != NULL)
		{
			resetStringInfo(&sql);
			memset(&params, 0, sizeof(params));
			append_filter(&sql, n, st->stay[node], n->needed_expr, &params);
			run_rows(st, sql.data, &params);
			for (r = 0; r < SPI_processed; r++)
			{
				Oid			leaf;
				ItemPointer tid;
				bool		found;
				RowEntry   *e;
				int			l;

				result_row(r, &leaf, &tid);
				l = leaf_index(n, leaf);
				e = row_lookup(st, leaf, tid, false, &found);
				if (l < 0 || e == NULL || (e->flags & ROW_ANON))
					continue;
				e->flags |= ROW_ANON;
				tidvec_add(&st->anon[node][l], tid);
				st->nanon[node]++;
			}
		}
		st->nkept[node] = nstay - st->nanon[node];
	}

	/* 4. the rows to delete: the set minus what stays */
	for (node = 0; node < g->nnodes; node++)
	{
		GdprGraphNode *n = &g->nodes[node];
		int			l;

		if (!role_is_set(n->role))
			continue;
		for (l = 0; l < n->nleaves; l++)
		{
			int			k;

			for (k = 0; k < st->set[node][l].n; k++)
			{
				bool		found;
				RowEntry   *e = row_lookup(st, n->leaves[l],
										   &st->set[node][l].tids[k], false, &found);

				if (e != NULL && !(e->flags & ROW_STAY))
				{
					tidvec_add(&st->dele[node][l], &st->set[node][l].tids[k]);
					st->ndeleted[node]++;
				}
			}
		}
		st->nkept[node] += st->nshared[node];
	}

	/* 5. other subjects that link to the subject's rows: the link is cleared */
	for (i = 0; i < g->nedges; i++)
	{
		GdprGraphEdge *e = &g->edges[i];
		GdprGraphNode *cn = &g->nodes[e->child];
		GdprGraphNode *pn = &g->nodes[e->parent];
		uint64		r;

		if (e->kind != GDPR_EDGE_LINK ||
			nvec_rows(st->set[e->parent], pn->nleaves) == 0)
			continue;
		resetStringInfo(&sql);
		memset(&params, 0, sizeof(params));
		appendStringInfo(&sql, "SELECT c.tableoid, c.ctid FROM %s%s c WHERE ",
						 scan_only(e->fk->child_scan),
						 gdpr_relation_name(e->fk->child_scan));
		append_cols(&sql, "c", e->fk->child_cols, e->fk->nkeys);
		appendStringInfoString(&sql, " IN (");
		append_source(&sql, pn, st->set[e->parent], e->fk->parent_cols,
					  e->fk->nkeys, &params);
		appendStringInfoChar(&sql, ')');
		run_rows(st, sql.data, &params);
		for (r = 0; r < SPI_processed; r++)
		{
			Oid			leaf;
			ItemPointer tid;
			bool		found;
			RowEntry   *re;
			int			l;

			result_row(r, &leaf, &tid);
			l = leaf_index(cn, leaf);
			if (l < 0)
				continue;
			re = row_lookup(st, leaf, tid, true, &found);
			if (!found)
			{
				re->flags = 0;
				re->node = e->child;
			}
			if (re->flags & ROW_SET)
				continue;		/* the subject's own row: deleted or kept */
			if (!e->fk->child_nullable)
				ereport(ERROR,
						(errcode(ERRCODE_NOT_NULL_VIOLATION),
						 errmsg("cannot erase: rows of subject table %s refer to the subject through NOT NULL columns",
								cn->qname),
						 errdetail("Another subject's link to the erased subject is cleared (set NULL), which these columns do not allow."),
						 errhint("Make the referencing columns nullable, or erase the referring subjects first.")));
			tidvec_add(&st->linkedge[i][l], tid);
			if (!(re->flags & ROW_LINK))
			{
				re->flags |= ROW_LINK;
				tidvec_add(&st->linkall[e->child][l], tid);
				st->nlink[e->child]++;
			}
		}
	}
}

/* ----------------------------------------------------------------------
 * Applying: one statement
 * ----------------------------------------------------------------------
 */
typedef struct ApplyCount
{
	int			node;
	char		what;			/* 'd' deleted, 'a' anonymized, 'l' link */
	int64		expected;
} ApplyCount;

static void
apply(EraseState *st)
{
	GdprGraph  *g = st->g;
	StringInfoData sql;
	StringInfoData sel;
	Params		params = {0};
	ApplyCount *counts;
	int			ncounts = 0;
	int			node;
	int			ret;
	int			i;

	counts = palloc(sizeof(ApplyCount) * (g->nnodes * 3 + 1));
	initStringInfo(&sql);
	initStringInfo(&sel);
	appendStringInfoString(&sql, "WITH ");
	for (node = 0; node < g->nnodes; node++)
	{
		GdprGraphNode *n = &g->nodes[node];
		int			l;

		if (role_is_set(n->role))
		{
			for (l = 0; l < n->nleaves; l++)
			{
				int			pn = add_param(&params, TIDARRAYOID, tidvec_array(&st->dele[node][l]));

				appendStringInfo(&sql, "%sgdpr_d%d_%d AS (DELETE FROM ONLY %s t WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($%d) RETURNING 1)",
								 ncounts > 0 || l > 0 ? ", " : "", node, l, n->leafnames[l], pn);
				appendStringInfo(&sel, "%s(SELECT pg_catalog.count(*) FROM gdpr_d%d_%d)",
								 l > 0 ? " + " : "", node, l);
			}
			counts[ncounts].node = node;
			counts[ncounts].what = 'd';
			counts[ncounts].expected = st->ndeleted[node];
			ncounts++;
			appendStringInfoString(&sel, ", ");
			if (n->set_list != NULL)
			{
				for (l = 0; l < n->nleaves; l++)
				{
					int			pn = add_param(&params, TIDARRAYOID, tidvec_array(&st->anon[node][l]));

					appendStringInfo(&sql, ", gdpr_a%d_%d AS (UPDATE ONLY %s t SET %s WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($%d) RETURNING 1)",
									 node, l, n->leafnames[l], n->set_list, pn);
					appendStringInfo(&sel, "%s(SELECT pg_catalog.count(*) FROM gdpr_a%d_%d)",
									 l > 0 ? " + " : "", node, l);
				}
				counts[ncounts].node = node;
				counts[ncounts].what = 'a';
				counts[ncounts].expected = st->nanon[node];
				ncounts++;
				appendStringInfoString(&sel, ", ");
			}
		}
		if (st->nlink[node] > 0 || n->role == GDPR_ROLE_LINK ||
			n->role == GDPR_ROLE_SUBJECT)
		{
			bool		any = false;

			for (i = 0; i < g->nedges; i++)
				if (g->edges[i].kind == GDPR_EDGE_LINK && g->edges[i].child == node)
					any = true;
			if (!any)
				continue;
			for (l = 0; l < n->nleaves; l++)
			{
				List	   *cols = NIL;
				ListCell   *lc;
				int			pall = add_param(&params, TIDARRAYOID, tidvec_array(&st->linkall[node][l]));
				bool		firstcol = true;

				appendStringInfo(&sql, ", gdpr_l%d_%d AS (UPDATE ONLY %s t SET ",
								 node, l, n->leafnames[l]);
				/* each column once, NULL when any link through it is cleared */
				for (i = 0; i < g->nedges; i++)
				{
					GdprGraphEdge *e = &g->edges[i];
					int			c;

					if (e->kind != GDPR_EDGE_LINK || e->child != node)
						continue;
					for (c = 0; c < e->fk->nkeys; c++)
					{
						bool		dup = false;

						foreach(lc, cols)
							if (strcmp((char *) lfirst(lc), e->fk->child_cols[c]) == 0)
								dup = true;
						if (!dup)
							cols = lappend(cols, e->fk->child_cols[c]);
					}
				}
				foreach(lc, cols)
				{
					char	   *col = (char *) lfirst(lc);
					bool		firstcond = true;

					appendStringInfo(&sql, "%s%s = CASE WHEN ", firstcol ? "" : ", ", col);
					for (i = 0; i < g->nedges; i++)
					{
						GdprGraphEdge *e = &g->edges[i];
						int			c;
						bool		has = false;

						if (e->kind != GDPR_EDGE_LINK || e->child != node)
							continue;
						for (c = 0; c < e->fk->nkeys; c++)
							if (strcmp(e->fk->child_cols[c], col) == 0)
								has = true;
						if (!has)
							continue;
						appendStringInfo(&sql, "%st.ctid OPERATOR(pg_catalog.=) ANY ($%d)",
										 firstcond ? "" : " OR ",
										 add_param(&params, TIDARRAYOID,
												   tidvec_array(&st->linkedge[i][l])));
						firstcond = false;
					}
					appendStringInfo(&sql, " THEN NULL ELSE t.%s END", col);
					firstcol = false;
				}
				appendStringInfo(&sql, " WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($%d) RETURNING 1)", pall);
				appendStringInfo(&sel, "%s(SELECT pg_catalog.count(*) FROM gdpr_l%d_%d)",
								 l > 0 ? " + " : "", node, l);
			}
			counts[ncounts].node = node;
			counts[ncounts].what = 'l';
			counts[ncounts].expected = st->nlink[node];
			ncounts++;
			appendStringInfoString(&sel, ", ");
		}
	}
	/* drop the trailing ", " */
	sel.data[sel.len - 2] = '\0';
	appendStringInfo(&sql, " SELECT %s", sel.data);

	/* "WITH , x AS" when the first CTE was an update: tidy */
	if (strncmp(sql.data, "WITH , ", 7) == 0)
		memmove(sql.data + 5, sql.data + 7, strlen(sql.data + 7) + 1);

	ret = SPI_execute_plan(gdpr_graph_plan(g, sql.data, params.n, params.types),
						   params.values, NULL, false, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "gdpr.erase: applying the erasure failed: %s",
			 SPI_result_code_string(ret));
	for (i = 0; i < ncounts; i++)
	{
		bool		isnull;
		int64		got = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													  SPI_tuptable->tupdesc,
													  i + 1, &isnull));

		if (isnull)
			got = 0;
		if (got != counts[i].expected)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("erasure of %s %s " INT64_FORMAT " rows where " INT64_FORMAT " were planned",
							g->nodes[counts[i].node].qname,
							counts[i].what == 'd' ? "deleted" :
							counts[i].what == 'a' ? "anonymized" : "unlinked",
							got, counts[i].expected),
					 errdetail("A trigger skipped rows, or a concurrent transaction changed them."),
					 errhint("Nothing was erased. Retry; if it fails again, check the BEFORE triggers of %s.",
							 g->nodes[counts[i].node].qname)));
	}
}

/* ----------------------------------------------------------------------
 * Entry points
 * ----------------------------------------------------------------------
 */
static Oid
extension_owner(void)
{
	Oid			extoid = get_extension_oid("gdpr_crm", false);
	Oid			owner = InvalidOid;
	int			ret;
	Datum		arg = ObjectIdGetDatum(extoid);
	Oid			argtype = OIDOID;

	ret = SPI_execute_with_args("SELECT extowner FROM pg_catalog.pg_extension WHERE oid = $1",
								1, &argtype, &arg, NULL, true, 1);
	if (ret == SPI_OK_SELECT && SPI_processed == 1)
	{
		bool		isnull;

		owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1, &isnull));
	}
	return OidIsValid(owner) ? owner : BOOTSTRAP_SUPERUSERID;
}

/* number of consent events of the subject (as the extension's owner) */
static int64
consent_events(Oid subject, const char *keytext, bool remove, Datum key, Oid keytype)
{
	Oid			saved_uid;
	int			saved_sec;
	int64		n = 0;
	Oid			consent_tab = gdpr_table_oid("consent_event", true);

	if (!OidIsValid(consent_tab))
		return 0;
	GetUserIdAndSecContext(&saved_uid, &saved_sec);
	SetUserIdAndSecContext(extension_owner(), saved_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (remove && gdpr_consent_erase_subject != NULL)
		n = gdpr_consent_erase_subject(subject, key, keytype);
	else
	{
		Oid			types[2] = {OIDOID, TEXTOID};
		Datum		vals[2];
		int			ret;

		vals[0] = ObjectIdGetDatum(subject);
		vals[1] = CStringGetTextDatum(keytext);
		ret = SPI_execute_with_args(psprintf("SELECT pg_catalog.count(*) FROM %s e WHERE e.subject OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND e.subject_key OPERATOR(pg_catalog.=) $2",
											 gdpr_relation_name(consent_tab)),
									2, types, vals, NULL, true, 1);
		if (ret == SPI_OK_SELECT && SPI_processed == 1)
		{
			bool		isnull;

			n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1, &isnull));
		}
	}
	SetUserIdAndSecContext(saved_uid, saved_sec);
	return n;
}

static void
complete_requests(const char *subject_ref)
{
	Oid			saved_uid;
	int			saved_sec;
	Datum		arg;
	Oid			argtype = TEXTOID;

	if (!OidIsValid(DatumGetObjectId(DirectFunctionCall1(to_regprocedure,
														 CStringGetTextDatum("gdpr._complete_erasure_requests(text)")))))
		return;
	GetUserIdAndSecContext(&saved_uid, &saved_sec);
	SetUserIdAndSecContext(extension_owner(), saved_sec | SECURITY_LOCAL_USERID_CHANGE);
	arg = CStringGetTextDatum(subject_ref);
	(void) SPI_execute_with_args("SELECT gdpr._complete_erasure_requests($1)",
								 1, &argtype, &arg, NULL, false, 0);
	SetUserIdAndSecContext(saved_uid, saved_sec);
}

/* the key in the type of the subject table's key column */
static Datum
coerce_subject_key(GdprGraph *g, Datum key, Oid keytype)
{
	char		category;
	bool		preferred;

	if (keytype != g->keytype)
	{
		get_type_category_preferred(getBaseType(keytype), &category, &preferred);
		if (category != TYPCATEGORY_STRING && category != TYPCATEGORY_UNKNOWN &&
			!can_coerce_type(1, &keytype, &g->keytype, COERCION_ASSIGNMENT))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("subject_key of type %s does not match the key column %s of %s (type %s)",
							format_type_be(keytype), g->keycol,
							gdpr_relation_name(g->subject), format_type_be(g->keytype)),
					 errhint("Pass the key as %s or as text.", format_type_be(g->keytype))));
	}
	return gdpr_coerce_key(key, keytype, g->keytype, g->keytypmod);
}

static GdprPlanStep *
make_step(Oid relid, const char *action, int64 rows)
{
	GdprPlanStep *s = palloc(sizeof(GdprPlanStep));

	s->relid = relid;
	s->action = action;
	s->rows = rows;
	return s;
}

static void
json_step(StringInfo buf, GdprPlanStep *s, bool first)
{
	appendStringInfo(buf, "%s{\"relation\": ", first ? "" : ", ");
	escape_json(buf, gdpr_relation_name(s->relid));
	appendStringInfo(buf, ", \"action\": \"%s\", \"rows\": " INT64_FORMAT "}",
					 s->action, s->rows);
}

/*
 * The work of gdpr.erase(); must run inside SPI.  Coerced key of the key
 * column's type.
 */
static List *
erase_subject_spi(Oid subject, Datum key, Oid keytype, const char *reason,
				  bool dry_run)
{
	GdprGraph  *g = gdpr_subject_graph(subject);
	EraseState *st;
	List	   *steps = NIL;
	int64		changed = 0;
	int64		nconsent;
	char	   *keytext;
	int			node;
	Oid			consent_tab;

	key = coerce_subject_key(g, key, keytype);
	keytext = gdpr_key_text(key, g->keytype);

	st = erase_state_create(g);
	collect(st, key, !dry_run);
	decide(st);

	for (node = 0; node < g->nnodes; node++)
	{
		GdprGraphNode *n = &g->nodes[node];
		int64		anon = st->nanon[node] + st->nlink[node];

		if (st->ndeleted[node] > 0)
			steps = lappend(steps, make_step(n->relid, "deleted", st->ndeleted[node]));
		if (anon > 0)
			steps = lappend(steps, make_step(n->relid, "anonymized", anon));
		if (st->nkept[node] > 0)
			steps = lappend(steps, make_step(n->relid, "kept", st->nkept[node]));
		changed += st->ndeleted[node] + anon;
	}
	nconsent = consent_events(subject, keytext, false, key, g->keytype);
	consent_tab = gdpr_table_oid("consent_event", true);
	if (nconsent > 0)
		steps = lappend(steps, make_step(consent_tab, "deleted", nconsent));
	changed += nconsent;

	if (changed == 0)
		return NIL;				/* nothing to do: no change, no audit */
	if (dry_run)
		return steps;

	apply(st);
	if (nconsent > 0)
		(void) consent_events(subject, keytext, true, key, g->keytype);

	/* the one audit entry: counts and subject_ref, never the key */
	{
		char	   *ref = gdpr_subject_ref(subject, key, g->keytype);
		StringInfoData js;
		ListCell   *lc;
		bool		first = true;

		initStringInfo(&js);
		appendStringInfoString(&js, "{\"reason\": ");
		if (reason != NULL)
			escape_json(&js, reason);
		else
			appendStringInfoString(&js, "null");
		appendStringInfoString(&js, ", \"steps\": [");
		foreach(lc, steps)
		{
			json_step(&js, (GdprPlanStep *) lfirst(lc), first);
			first = false;
		}
		appendStringInfoString(&js, "]}");
		gdpr_audit_append("erase", ref, subject,
						  DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
															 CStringGetDatum(js.data))));
		complete_requests(ref);
	}
	return steps;
}

List *
gdpr_erase_subject(Oid subject_relid, Datum key, Oid keytype,
				   const char *reason, bool dry_run)
{
	List	   *steps;
	int			save_nestlevel;
	MemoryContext outer = CurrentMemoryContext;
	ListCell   *lc;
	List	   *result = NIL;

	subject_relid = gdpr_top_relation(subject_relid);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * Row-level security must not hide rows of the subject: with
	 * row_security off a policy that would filter raises an error instead,
	 * and nothing is erased half-way.
	 */
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("row_security", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	steps = erase_subject_spi(subject_relid, key, keytype, reason, dry_run);

	AtEOXact_GUC(true, save_nestlevel);

	/* copy out of the SPI context */
	foreach(lc, steps)
	{
		GdprPlanStep *s = (GdprPlanStep *) lfirst(lc);
		MemoryContext old = MemoryContextSwitchTo(outer);

		result = lappend(result, make_step(s->relid, s->action, s->rows));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return result;
}

static Oid
subject_arg(FunctionCallInfo fcinfo, Oid *keytype)
{
	Oid			subject;

	GDPR_REQUIRE_ARG(0, "subject");
	GDPR_REQUIRE_ARG(1, "subject_key");
	subject = PG_GETARG_OID(0);
	if (get_rel_name(subject) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", subject)));
	*keytype = get_fn_expr_argtype(fcinfo->flinfo, 1);
	if (!OidIsValid(*keytype))
		ereport(ERROR,
				(errcode(ERRCODE_INDETERMINATE_DATATYPE),
				 errmsg("could not determine the type of subject_key")));
	if (*keytype == UNKNOWNOID)
		*keytype = TEXTOID;
	return subject;
}

/*
 * gdpr.erase(subject regclass, subject_key anyelement, reason text DEFAULT
 * NULL, dry_run boolean DEFAULT false) RETURNS TABLE(relation regclass,
 * action text, rows bigint)
 */
Datum
gdpr_erase(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			subject;
	Oid			keytype;
	Datum		key;
	char	   *reason = NULL;
	bool		dry_run = false;
	List	   *steps;
	ListCell   *lc;

	subject = subject_arg(fcinfo, &keytype);
	key = PG_GETARG_DATUM(1);
	if (!PG_ARGISNULL(2))
		reason = text_to_cstring(PG_GETARG_TEXT_PP(2));
	GDPR_REQUIRE_ARG(3, "dry_run");
	dry_run = PG_GETARG_BOOL(3);

	InitMaterializedSRF(fcinfo, 0);
	steps = gdpr_erase_subject(subject, key, keytype, reason, dry_run);
	foreach(lc, steps)
	{
		GdprPlanStep *s = (GdprPlanStep *) lfirst(lc);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = ObjectIdGetDatum(s->relid);
		values[1] = CStringGetTextDatum(s->action);
		values[2] = Int64GetDatum(s->rows);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ----------------------------------------------------------------------
 * The subject's reach (for export and registers)
 * ----------------------------------------------------------------------
 */
List *
gdpr_subject_rows(Oid subject, Datum key, Oid keytype)
{
	GdprGraph  *g;
	EraseState *st;
	List	   *result = NIL;
	int			node;

	subject = gdpr_top_relation(subject);
	g = gdpr_subject_graph(subject);
	key = coerce_subject_key(g, key, keytype);
	st = erase_state_create(g);
	collect(st, key, false);
	for (node = 0; node < g->nnodes; node++)
	{
		GdprGraphNode *n = &g->nodes[node];
		int			l;

		if (!role_is_set(n->role))
			continue;
		for (l = 0; l < n->nleaves; l++)
		{
			int			k;

			for (k = 0; k < st->set[node][l].n; k++)
			{
				GdprSubjectRow *r = palloc(sizeof(GdprSubjectRow));

				r->relid = n->relid;
				r->leaf = n->leaves[l];
				ItemPointerCopy(&st->set[node][l].tids[k], &r->tid);
				result = lappend(result, r);
			}
		}
	}
	return result;
}

/*
 * gdpr._subject_reach(subject regclass, subject_key anyelement)
 * RETURNS TABLE(relation regclass, row_ctid tid, part regclass)
 */
Datum
gdpr_subject_reach(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			subject;
	Oid			keytype;
	List	   *rows;
	ListCell   *lc;
	int			save_nestlevel;

	subject = subject_arg(fcinfo, &keytype);
	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("row_security", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	rows = gdpr_subject_rows(subject, PG_GETARG_DATUM(1), keytype);
	AtEOXact_GUC(true, save_nestlevel);
	foreach(lc, rows)
	{
		GdprSubjectRow *r = (GdprSubjectRow *) lfirst(lc);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = ObjectIdGetDatum(r->relid);
		values[1] = PointerGetDatum(&r->tid);
		values[2] = ObjectIdGetDatum(r->leaf);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
