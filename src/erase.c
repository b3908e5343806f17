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

#include "access/skey.h"
#include "access/stratnum.h"
#include "access/xact.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "pgstat.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "audit.h"
#include "consent.h"
#include "gdpr.h"
#include "graph.h"
#include "graph_int.h"

PG_FUNCTION_INFO_V1(gdpr_erase);
PG_FUNCTION_INFO_V1(gdpr_subject_reach);


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
	char		status;			/* for simplehash */
} RowEntry;

static inline uint32
rowkey_hash(RowKey k)
{
	uint32		v = (ItemPointerGetBlockNumberNoCheck(&k.tid) << 16) ^
		(uint32) ItemPointerGetOffsetNumberNoCheck(&k.tid);

	return hash_combine(murmurhash32(k.leaf), murmurhash32(v));
}

#define SH_PREFIX rowhash
#define SH_ELEMENT_TYPE RowEntry
#define SH_KEY_TYPE RowKey
#define SH_KEY key
#define SH_HASH_KEY(tb, k) rowkey_hash(k)
#define SH_EQUAL(tb, a, b) ((a).leaf == (b).leaf && ItemPointerEquals(&(a).tid, &(b).tid))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct TidVec
{
	int			n;
	int			cap;
	ItemPointerData *tids;
} TidVec;

typedef struct EraseState
{
	GdprGraph  *g;
	rowhash_hash *rows;
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
	if (create)
		return rowhash_insert(st->rows, key, found);
	*found = false;
	return rowhash_lookup(st->rows, key);
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

/*
 * Statements on few rows run a generic plan prepared once per graph; on many
 * rows (a big array of ctids) they are planned for the actual arrays, so the
 * planner can pick hash joins and sequential scans.
 */
#define GDPR_GENERIC_MAX_ROWS 256

static bool
params_small(Params *params)
{
	int			i;

	for (i = 0; i < params->n; i++)
		if (params->types[i] == TIDARRAYOID &&
			ArrayGetNItems(ARR_NDIM(DatumGetArrayTypeP(params->values[i])),
						   ARR_DIMS(DatumGetArrayTypeP(params->values[i]))) > GDPR_GENERIC_MAX_ROWS)
			return false;
	return true;
}

static int
exec_stmt(GdprGraph *g, const char *sql, Params *params, bool small)
{
	if (small)
		return SPI_execute_plan(gdpr_graph_plan(g, sql, params->n, params->types),
								params->values, NULL, false, 0);
	return SPI_execute_with_args(sql, params->n, params->types, params->values,
								 NULL, false, 0);
}

/* "a.c1, a.c2" (a select list) */
static void
append_list(StringInfo buf, const char *alias, char **cols, int ncols)
{
	int			c;

	for (c = 0; c < ncols; c++)
		appendStringInfo(buf, "%s%s.%s", c > 0 ? ", " : "", alias, cols[c]);
}

/* run a statement of the graph that returns (tableoid, ctid) rows */
static void
run_rows(EraseState *st, const char *sql, Params *params)
{
	int			ret = exec_stmt(st->g, sql, params, params_small(params));

	if (ret != SPI_OK_SELECT && ret != SPI_OK_SELINTO)
		elog(ERROR, "gdpr.erase: statement failed: %s", SPI_result_code_string(ret));
}

/*
 * "(c.a, c.b) IN (source)" -- or, for one column and few rows,
 * "c.a = ANY (ARRAY(source))", which a generic plan turns into an index
 * scan of the referencing column like the foreign-key triggers do.
 */
static void
append_in_source(StringInfo buf, const char *alias, char **cols, int ncols,
				 GdprGraphNode *node, TidVec *vecs, char **srccols, Params *params)
{
	bool		small = (nvec_rows(vecs, node->nleaves) <= GDPR_GENERIC_MAX_ROWS);

	if (ncols == 1 && small)
	{
		appendStringInfo(buf, "%s.%s = ANY (ARRAY(", alias, cols[0]);
		append_source(buf, node, vecs, srccols, ncols, params);
		appendStringInfoString(buf, "))");
	}
	else
	{
		append_cols(buf, alias, cols, ncols);
		appendStringInfoString(buf, " IN (");
		append_source(buf, node, vecs, srccols, ncols, params);
		appendStringInfoChar(buf, ')');
	}
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
erase_state_create(GdprGraph *g, bool with_rows)
{
	EraseState *st = palloc0(sizeof(EraseState));
	int			i;

	st->g = g;
	st->nshared = palloc0(sizeof(int64) * g->nnodes);
	st->nlink = palloc0(sizeof(int64) * g->nnodes);
	st->ndeleted = palloc0(sizeof(int64) * g->nnodes);
	st->nanon = palloc0(sizeof(int64) * g->nnodes);
	st->nkept = palloc0(sizeof(int64) * g->nnodes);
	if (!with_rows)
		return st;				/* the fused path only counts */
	st->rows = rowhash_create(CurrentMemoryContext, 1024, NULL);
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
	st->queue = palloc0(sizeof(int) * g->nnodes);
	st->inqueue = palloc0(sizeof(bool) * g->nnodes);
	return st;
}

/*
 * Mark the (tableoid, ctid) rows of the last statement with flag and add
 * them to node's vectors: ROW_SET, the subject's rows (set, frontier);
 * ROW_STAY, rows of the set that stay (stay, stayfront).  Returns how many
 * were new.
 */
static int
absorb_rows(EraseState *st, int node, int flag)
{
	GdprGraphNode *n = &st->g->nodes[node];
	TidVec	   *vec = (flag == ROW_SET) ? st->set[node] : st->stay[node];
	TidVec	   *front = (flag == ROW_SET) ? st->frontier[node] : st->stayfront[node];
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
		e = row_lookup(st, leaf, tid, flag == ROW_SET, &found);
		if (flag == ROW_SET)
		{
			if (found && (e->flags & ROW_SET))
				continue;
			if (!found)
				e->flags = 0;
			e->node = node;
		}
		else if (e == NULL || !(e->flags & ROW_SET) || (e->flags & ROW_STAY))
			continue;
		e->flags |= flag;
		tidvec_add(&vec[l], tid);
		tidvec_add(&front[l], tid);
		added++;
	}
	return added;
}

/*
 * Breadth-first from the queued nodes, to a fixpoint (cycles): ROW_SET goes
 * down, from the subject's rows to the rows referencing them; ROW_STAY goes
 * up, from staying rows to the rows they reference (down and up edges),
 * which stay too.  One statement per edge and level.
 */
static void
propagate(EraseState *st, int flag)
{
	GdprGraph  *g = st->g;
	bool		down = (flag == ROW_SET);
	TidVec	  **frontier = down ? st->frontier : st->stayfront;
	StringInfoData sql;
	Params		params;
	int			node;
	int			i;

	initStringInfo(&sql);
	while ((node = queue_pop(st)) >= 0)
	{
		GdprGraphNode *n = &g->nodes[node];
		TidVec	   *cur = frontier[node];

		frontier[node] = tidvecs(n->nleaves);
		if (nvec_rows(cur, n->nleaves) == 0)
			continue;
		for (i = 0; i < g->nedges; i++)
		{
			GdprGraphEdge *e = &g->edges[i];
			Oid			other_scan;
			char	  **other_cols;
			char	  **these_cols;

			if (down ? (e->kind != GDPR_EDGE_DOWN || e->parent != node)
				: ((e->kind != GDPR_EDGE_DOWN && e->kind != GDPR_EDGE_UP) ||
				   e->child != node))
				continue;
			other_scan = down ? e->fk->child_scan : e->fk->parent_scan;
			other_cols = down ? e->fk->child_cols : e->fk->parent_cols;
			these_cols = down ? e->fk->parent_cols : e->fk->child_cols;
			resetStringInfo(&sql);
			memset(&params, 0, sizeof(params));
			appendStringInfo(&sql, "SELECT x.tableoid, x.ctid FROM %s%s x WHERE ",
							 scan_only(other_scan), gdpr_relation_name(other_scan));
			append_in_source(&sql, "x", other_cols, e->fk->nkeys,
							 n, cur, these_cols, &params);
			run_rows(st, sql.data, &params);
			if (absorb_rows(st, down ? e->child : e->parent, flag) > 0)
				queue_push(st, down ? e->child : e->parent);
		}
	}
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
	if (absorb_rows(st, 0, ROW_SET) == 0)
		return;
	queue_push(st, 0);

	/* 2. rows that reference them, level by level (cycles: to a fixpoint) */
	propagate(st, ROW_SET);

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
			append_in_source(&sql, "t", e->fk->parent_cols, e->fk->nkeys,
							 &g->nodes[e->child], st->set[e->child],
							 e->fk->child_cols, &params);
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
		if (absorb_rows(st, node, ROW_STAY) > 0)
			queue_push(st, node);
	}

	/* 2. everything a staying row references stays too */
	propagate(st, ROW_STAY);

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
		append_in_source(&sql, "c", e->fk->child_cols, e->fk->nkeys,
						 pn, st->set[e->parent], e->fk->parent_cols, &params);
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

/*
 * Self-reference links (edges of kind GDPR_EDGE_LINK) of a node: the
 * distinct child columns that are set NULL when a link is cleared, and
 * whether one edge goes through a given column.  Used by both the general
 * and the fused erase statement.
 */
static List *
link_columns(GdprGraph *g, int node)
{
	List	   *cols = NIL;
	int			i;

	for (i = 0; i < g->nedges; i++)
	{
		GdprGraphEdge *e = &g->edges[i];
		int			c;

		if (e->kind != GDPR_EDGE_LINK || e->child != node)
			continue;
		for (c = 0; c < e->fk->nkeys; c++)
		{
			bool		dup = false;
			ListCell   *lc;

			foreach(lc, cols)
				if (strcmp((char *) lfirst(lc), e->fk->child_cols[c]) == 0)
					dup = true;
			if (!dup)
				cols = lappend(cols, e->fk->child_cols[c]);
		}
	}
	return cols;
}

static bool
edge_links_column(const GdprGraphEdge *e, int node, const char *col)
{
	int			c;

	if (e->kind != GDPR_EDGE_LINK || e->child != node)
		return false;
	for (c = 0; c < e->fk->nkeys; c++)
		if (strcmp(e->fk->child_cols[c], col) == 0)
			return true;
	return false;
}

/*
 * One statement that deletes, anonymizes and unlinks everything; only the
 * parts that have rows are in it (each combination is prepared once).
 */
static void
apply(EraseState *st)
{
	GdprGraph  *g = st->g;
	StringInfoData sql;
	StringInfoData sel;
	Params		params = {0};
	ApplyCount *counts;
	int			ncounts = 0;
	int			maxcounts = 16;
	int			node;
	int			ret;
	int			i;

	counts = palloc(sizeof(ApplyCount) * maxcounts);
	initStringInfo(&sql);
	initStringInfo(&sel);

#define ADD_COUNT(nd, w, exp) \
	do { \
		if (ncounts == maxcounts) \
		{ \
			maxcounts *= 2; \
			counts = repalloc(counts, sizeof(ApplyCount) * maxcounts); \
		} \
		counts[ncounts].node = (nd); \
		counts[ncounts].what = (w); \
		counts[ncounts].expected = (exp); \
		ncounts++; \
	} while (0)

	for (node = 0; node < g->nnodes; node++)
	{
		GdprGraphNode *n = &g->nodes[node];
		int			l;

		for (l = 0; l < n->nleaves; l++)
		{
			if (role_is_set(n->role) && st->dele[node][l].n > 0)
			{
				int			pn = add_param(&params, TIDARRAYOID, tidvec_array(&st->dele[node][l]));

				appendStringInfo(&sql, "%sgdpr_d%d_%d AS (DELETE FROM ONLY %s t WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($%d) RETURNING 1)",
								 ncounts > 0 ? ", " : "", node, l, n->leafnames[l], pn);
				appendStringInfo(&sel, "%s(SELECT pg_catalog.count(*) FROM gdpr_d%d_%d)",
								 ncounts > 0 ? ", " : "", node, l);
				ADD_COUNT(node, 'd', st->dele[node][l].n);
			}
			if (role_is_set(n->role) && n->set_list != NULL && st->anon[node][l].n > 0)
			{
				int			pn = add_param(&params, TIDARRAYOID, tidvec_array(&st->anon[node][l]));

				appendStringInfo(&sql, "%sgdpr_a%d_%d AS (UPDATE ONLY %s t SET %s WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($%d) RETURNING 1)",
								 ncounts > 0 ? ", " : "", node, l, n->leafnames[l], n->set_list, pn);
				appendStringInfo(&sel, "%s(SELECT pg_catalog.count(*) FROM gdpr_a%d_%d)",
								 ncounts > 0 ? ", " : "", node, l);
				ADD_COUNT(node, 'a', st->anon[node][l].n);
			}
			if (st->linkall[node][l].n > 0)
			{
				List	   *cols = NIL;
				ListCell   *lc;
				int			pall = add_param(&params, TIDARRAYOID, tidvec_array(&st->linkall[node][l]));
				bool		firstcol = true;

				appendStringInfo(&sql, "%sgdpr_l%d_%d AS (UPDATE ONLY %s t SET ",
								 ncounts > 0 ? ", " : "", node, l, n->leafnames[l]);
				/* each column once, NULL when any link through it is cleared */
				cols = link_columns(g, node);
				foreach(lc, cols)
				{
					char	   *col = (char *) lfirst(lc);
					bool		firstcond = true;

					appendStringInfo(&sql, "%s%s = CASE WHEN ", firstcol ? "" : ", ", col);
					for (i = 0; i < g->nedges; i++)
					{
						GdprGraphEdge *e = &g->edges[i];

						if (!edge_links_column(e, node, col))
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
								 ncounts > 0 ? ", " : "", node, l);
				ADD_COUNT(node, 'l', st->linkall[node][l].n);
			}
		}
	}
	if (ncounts == 0)
		return;

	{
		char	   *full = psprintf("WITH %s SELECT %s", sql.data, sel.data);

		ret = exec_stmt(g, full, &params, params_small(&params));
	}
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
extension_owner(GdprGraph *g)
{
	if (!OidIsValid(g->extowner))
	{
		Oid			extoid = get_extension_oid("gdpr_crm", false);
		int			ret;
		Datum		arg = ObjectIdGetDatum(extoid);
		Oid			argtype = OIDOID;

		ret = SPI_execute_with_args("SELECT extowner FROM pg_catalog.pg_extension WHERE oid = $1",
									1, &argtype, &arg, NULL, true, 1);
		if (ret == SPI_OK_SELECT && SPI_processed == 1)
		{
			bool		isnull;

			g->extowner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 1, &isnull));
		}
		if (!OidIsValid(g->extowner))
			g->extowner = BOOTSTRAP_SUPERUSERID;
	}
	return g->extowner;
}

/*
 * The subject's consent events: counted (dry run) or removed, as the
 * extension's owner.  An index probe first: most subjects have none, and it
 * costs less than a statement.
 */
static int64
consent_events(GdprGraph *g, const char *keytext, bool remove, Datum key)
{
	ScanKeyData skey[2];
	Oid			saved_uid;
	int			saved_sec;
	int64		n = 0;

	ScanKeyInit(&skey[0], 1, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(g->subject));
	ScanKeyInit(&skey[1], 2, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(keytext));
	if (!gdpr_index_has_match("consent_event_lookup", 2, skey))
		return 0;

	GetUserIdAndSecContext(&saved_uid, &saved_sec);
	SetUserIdAndSecContext(extension_owner(g), saved_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (remove)
		n = gdpr_consent_erase_subject(g->subject, key, g->keytype);
	else
	{
		Oid			types[2] = {OIDOID, TEXTOID};
		Datum		vals[2];
		int			ret;

		vals[0] = ObjectIdGetDatum(g->subject);
		vals[1] = CStringGetTextDatum(keytext);
		ret = SPI_execute_plan(gdpr_graph_plan(g, "SELECT pg_catalog.count(*) FROM gdpr.consent_event e WHERE e.subject OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND e.subject_key OPERATOR(pg_catalog.=) $2",
											   2, types),
							   vals, NULL, true, 0);
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

/* complete the subject's open erasure requests (the registers capability) */
static void
complete_requests(GdprGraph *g, const char *subject_ref)
{
	Oid			saved_uid;
	int			saved_sec;
	Datum		arg;
	Oid			argtype = TEXTOID;
	ScanKeyData skey;

	if (g->has_requests == 0)
		g->has_requests = OidIsValid(DatumGetObjectId(DirectFunctionCall1(to_regprocedure,
																		  CStringGetTextDatum("gdpr._complete_erasure_requests(text)")))) ? 1 : -1;
	if (g->has_requests < 0)
		return;
	/* an index probe first: most erasures have no open request */
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(subject_ref));
	if (!gdpr_index_has_match("request_open_idx", 1, &skey))
		return;
	GetUserIdAndSecContext(&saved_uid, &saved_sec);
	SetUserIdAndSecContext(extension_owner(g), saved_sec | SECURITY_LOCAL_USERID_CHANGE);
	arg = CStringGetTextDatum(subject_ref);
	(void) SPI_execute_plan(gdpr_graph_plan(g, "SELECT gdpr._complete_erasure_requests($1)", 1, &argtype),
							&arg, NULL, false, 0);
	SetUserIdAndSecContext(saved_uid, saved_sec);
}

/* ----------------------------------------------------------------------
 * The fused path: a graph in which nothing can be kept (no legal
 * obligation, no rows pointed to), without cycles, is erased by one
 * statement that finds and deletes level by level through the RETURNING
 * lists of data-modifying CTEs -- what ON DELETE CASCADE does, without a
 * round trip per row.  The dry run takes the general path, with the same
 * result.
 * ----------------------------------------------------------------------
 */
static bool
fused_possible(GdprGraph *g, int *order, int *norder)
{
	int		   *indeg = palloc0(sizeof(int) * g->nnodes);
	int			n = 0;
	int			head = 0;
	int			i,
				k;
	int			nset = 0;

	for (i = 0; i < g->nnodes; i++)
	{
		GdprGraphNode *nd = &g->nodes[i];

		if (nd->role == GDPR_ROLE_UP)
			return false;
		if (role_is_set(nd->role))
		{
			nset++;
			if (nd->keep_expr != NULL)
				return false;
		}
	}
	for (k = 0; k < g->nedges; k++)
	{
		GdprGraphEdge *e = &g->edges[k];

		if (e->kind == GDPR_EDGE_DOWN)
		{
			if (e->child == e->parent ||
				e->fk->child_scan != e->fk->child ||
				e->fk->parent_scan != e->fk->parent)
				return false;
			indeg[e->child]++;
		}
		else if (e->kind == GDPR_EDGE_LINK)
		{
			if (!e->fk->child_nullable ||
				e->fk->child_scan != e->fk->child ||
				e->fk->parent_scan != e->fk->parent)
				return false;
		}
	}
	/* topological order of the set nodes, parents first */
	order[n++] = 0;
	while (head < n)
	{
		int			cur = order[head++];

		for (k = 0; k < g->nedges; k++)
		{
			GdprGraphEdge *e = &g->edges[k];

			if (e->kind == GDPR_EDGE_DOWN && e->parent == cur &&
				--indeg[e->child] == 0)
				order[n++] = e->child;
		}
	}
	*norder = n;
	return n == nset;			/* fewer: a cycle */
}

/* the columns of node that keys of its children reference */
static List *
returned_cols(GdprGraph *g, int node)
{
	List	   *cols = NIL;
	int			k,
				c;

	for (k = 0; k < g->nedges; k++)
	{
		GdprGraphEdge *e = &g->edges[k];

		if ((e->kind != GDPR_EDGE_DOWN && e->kind != GDPR_EDGE_LINK) || e->parent != node)
			continue;
		for (c = 0; c < e->fk->nkeys; c++)
		{
			ListCell   *lc;
			bool		dup = false;

			foreach(lc, cols)
				if (strcmp((char *) lfirst(lc), e->fk->parent_cols[c]) == 0)
					dup = true;
			if (!dup)
				cols = lappend(cols, e->fk->parent_cols[c]);
		}
	}
	return cols;
}

static void
fused_prepare(GdprGraph *g)
{
	int		   *order = palloc(sizeof(int) * g->nnodes);
	StringInfoData sql;
	StringInfoData sel;
	int			i,
				k;
	int			ncols = 0;
	int			norder;
	MemoryContext old;

	g->fused_state = -1;
	if (!fused_possible(g, order, &norder))
		return;
	old = MemoryContextSwitchTo(GetMemoryChunkContext(g));

	initStringInfo(&sql);
	initStringInfo(&sel);
	g->fused_node = palloc(sizeof(int) * g->nnodes * 2);
	g->fused_what = palloc(sizeof(char) * g->nnodes * 2);
	g->fused_set = palloc(sizeof(int) * g->nnodes);
	g->fused_nset = 0;
	g->fused_cascade = true;
	for (i = 0; i < norder; i++)
	{
		int			node = order[i];
		GdprGraphNode *nd = &g->nodes[node];
		List	   *ret = returned_cols(g, node);
		ListCell   *lc;
		bool		first = true;

		/*
		 * A node all of whose incoming keys cascade is deleted by the
		 * foreign-key triggers themselves (counted from the transaction's
		 * statistics): the CTE only selects the keys its children need.
		 */
		bool		cascaded = (node != 0);

		for (k = 0; k < g->nedges; k++)
		{
			GdprGraphEdge *e = &g->edges[k];

			if (e->kind == GDPR_EDGE_DOWN && e->child == node &&
				(e->fk->ondelete != 'c' || !OidIsValid(e->fk->conoid)))
				cascaded = false;
		}
		if (!cascaded && node != 0)
			g->fused_cascade = false;
		if (cascaded)
			appendStringInfo(&sql, "%sgdpr_d%d AS (SELECT 1 AS gdpr_one",
							 i > 0 ? ", " : "", node);
		foreach(lc, ret)
			if (cascaded)
				appendStringInfo(&sql, ", t.%s", (char *) lfirst(lc));
		if (cascaded)
			appendStringInfo(&sql, " FROM %s%s t WHERE ", scan_only(nd->relid), nd->qname);
		else
			appendStringInfo(&sql, "%sgdpr_d%d AS (DELETE FROM %s%s t WHERE ",
							 i > 0 ? ", " : "", node, scan_only(nd->relid), nd->qname);
		if (node == 0)
			appendStringInfo(&sql, "t.%s = $1", g->keycol);
		else
		{
			for (k = 0; k < g->nedges; k++)
			{
				GdprGraphEdge *e = &g->edges[k];

				if (e->kind != GDPR_EDGE_DOWN || e->child != node)
					continue;
				if (!first)
					appendStringInfoString(&sql, " OR ");
				append_cols(&sql, "t", e->fk->child_cols, e->fk->nkeys);
				appendStringInfoString(&sql, " IN (SELECT ");
				append_list(&sql, "p", e->fk->parent_cols, e->fk->nkeys);
				appendStringInfo(&sql, " FROM gdpr_d%d p)", e->parent);
				first = false;
			}
		}
		/*
		 * Only what children and links need is returned (the counts come
		 * from the statistics): a leaf returns nothing, and its deleted rows
		 * are not kept in a tuplestore for nobody.
		 */
		if (!cascaded && ret != NIL)
		{
			appendStringInfoString(&sql, " RETURNING 1 AS gdpr_one");
			foreach(lc, ret)
				appendStringInfo(&sql, ", t.%s", (char *) lfirst(lc));
		}
		appendStringInfoChar(&sql, ')');
		g->fused_set[g->fused_nset++] = node;
	}
	/* links of other subjects to the deleted rows: set NULL */
	for (i = 0; i < g->nnodes; i++)
	{
		List	   *cols = link_columns(g, i);
		ListCell   *lc;
		bool		first = true;

		if (cols == NIL)
			continue;
		g->fused_cascade = false;
		appendStringInfo(&sql, ", gdpr_l%d AS (UPDATE %s%s t SET ", i,
						 scan_only(g->nodes[i].relid), g->nodes[i].qname);
		foreach(lc, cols)
		{
			char	   *col = (char *) lfirst(lc);
			bool		firstcond = true;

			appendStringInfo(&sql, "%s%s = CASE WHEN ", first ? "" : ", ", col);
			for (k = 0; k < g->nedges; k++)
			{
				GdprGraphEdge *e = &g->edges[k];

				if (!edge_links_column(e, i, col))
					continue;
				appendStringInfoString(&sql, firstcond ? "" : " OR ");
				append_cols(&sql, "t", e->fk->child_cols, e->fk->nkeys);
				appendStringInfoString(&sql, " IN (SELECT ");
				append_list(&sql, "p", e->fk->parent_cols, e->fk->nkeys);
				appendStringInfo(&sql, " FROM gdpr_d%d p)", e->parent);
				firstcond = false;
			}
			appendStringInfo(&sql, " THEN NULL ELSE t.%s END", col);
			first = false;
		}
		appendStringInfoString(&sql, " WHERE ");
		first = true;
		for (k = 0; k < g->nedges; k++)
		{
			GdprGraphEdge *e = &g->edges[k];

			if (e->kind != GDPR_EDGE_LINK || e->child != i)
				continue;
			appendStringInfoString(&sql, first ? "(" : " OR ");
			append_cols(&sql, "t", e->fk->child_cols, e->fk->nkeys);
			appendStringInfoString(&sql, " IN (SELECT ");
			append_list(&sql, "p", e->fk->parent_cols, e->fk->nkeys);
			appendStringInfo(&sql, " FROM gdpr_d%d p)", e->parent);
			first = false;
		}
		appendStringInfoChar(&sql, ')');
		if (i == 0)
			appendStringInfo(&sql, " AND t.%s IS DISTINCT FROM $1", g->keycol);
		appendStringInfoString(&sql, " RETURNING 1)");
		appendStringInfo(&sel, "%s(SELECT pg_catalog.count(*) FROM gdpr_l%d)",
						 ncols > 0 ? ", " : "", i);
		g->fused_node[ncols] = i;
		g->fused_what[ncols] = 'l';
		ncols++;
	}
	if (g->fused_cascade)
	{
		/* the subject row alone; the cascades delete the rest */
		g->fused_sql = psprintf("DELETE FROM %s%s t WHERE t.%s = $1",
								scan_only(g->subject), g->nodes[0].qname, g->keycol);
	}
	else
		g->fused_sql = psprintf("WITH %s SELECT %s", sql.data,
								ncols > 0 ? sel.data : "1");
	MemoryContextSwitchTo(old);
	g->fused_ncols = ncols;
	g->fused_state = 1;
}

/*
 * Rows deleted from a node's tables so far in this transaction (the
 * transaction-local statistics, as pg_stat_get_xact_tuples_deleted()).
 */
static int64
node_xact_deleted(GdprGraphNode *n)
{
	int64		result = 0;
	int			l;

	for (l = 0; l < n->nleaves; l++)
	{
		PgStat_TableStatus *tab = find_tabstat_entry(n->leaves[l]);
		PgStat_TableXactStatus *trans;

		if (tab == NULL)
			continue;
		result += tab->t_counts.t_tuples_deleted;
		for (trans = tab->trans; trans != NULL; trans = trans->upper)
			result += trans->tuples_deleted;
	}
	return result;
}

/* run the fused statement; counts per node into st */
static void
fused_run(EraseState *st, Datum key)
{
	GdprGraph  *g = st->g;
	int			ret;
	int			i;
	char	   *lock;
	int64	   *before;

	/*
	 * Lock the subject row first, in a statement of its own: concurrent
	 * inserts of rows referencing it wait from now on, and the statement
	 * below (read committed: a new snapshot) sees every row committed before.
	 * Not needed when the foreign keys' cascades delete everything below
	 * the subject row: they lock and read with fresh snapshots themselves.
	 */
	if (!g->fused_cascade)
	{
		lock = psprintf("SELECT 1 FROM %s%s t WHERE t.%s = $1 FOR UPDATE OF t",
						scan_only(g->subject), g->nodes[0].qname, g->keycol);
		ret = SPI_execute_plan(gdpr_graph_plan(g, lock, 1, &g->keytype),
							   &key, NULL, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "gdpr.erase: locking the subject failed: %s", SPI_result_code_string(ret));
		if (SPI_processed == 0)
			return;				/* no such subject: nothing to do */
	}

	else
	{
		/*
		 * The cascades run as the tables' owners; gdpr.erase runs with the
		 * caller's rights, so the caller must be allowed to delete from
		 * every table below the subject, as on the other paths.
		 */
		for (i = 1; i < g->fused_nset; i++)
		{
			Oid			relid = g->nodes[g->fused_set[i]].relid;
			AclResult	aclresult;

			aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
			if (aclresult == ACLCHECK_OK)
				aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_DELETE);
			if (aclresult != ACLCHECK_OK)
				aclcheck_error(aclresult, get_relkind_objtype(get_rel_relkind(relid)),
							   get_rel_name(relid));
		}
	}

	before = palloc0(sizeof(int64) * g->nnodes);
	for (i = 0; i < g->fused_nset; i++)
		before[g->fused_set[i]] = node_xact_deleted(&g->nodes[g->fused_set[i]]);
	ret = SPI_execute_plan(gdpr_graph_plan(g, g->fused_sql, 1, &g->keytype),
						   &key, NULL, false, 0);
	if (g->fused_cascade ? ret != SPI_OK_DELETE : (ret != SPI_OK_SELECT || SPI_processed != 1))
		elog(ERROR, "gdpr.erase: erasure failed: %s", SPI_result_code_string(ret));
	for (i = 0; i < g->fused_nset; i++)
		st->ndeleted[g->fused_set[i]] =
			node_xact_deleted(&g->nodes[g->fused_set[i]]) - before[g->fused_set[i]];
	for (i = 0; i < g->fused_ncols; i++)
	{
		bool		isnull;
		int64		n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, i + 1, &isnull));

		if (isnull)
			n = 0;
		st->nlink[g->fused_node[i]] = n;
	}
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
jsonb_push_key(JsonbParseState **state, const char *key)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) key;
	v.val.string.len = strlen(key);
	(void) pushJsonbValue(state, WJB_KEY, &v);
}

static void
jsonb_push_string(JsonbParseState **state, const char *key, const char *value)
{
	JsonbValue	v;

	jsonb_push_key(state, key);
	if (value == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) value;
		v.val.string.len = strlen(value);
	}
	(void) pushJsonbValue(state, WJB_VALUE, &v);
}

/*
 * The details of the audit entry: {"reason": ..., "deleted": {relation:
 * rows, ...}, "anonymized": {...}, "kept": {...}}, the groups that are not
 * empty; built directly (no JSON text to parse), and small: it is hashed
 * into the chain and written to the WAL with every erasure.
 */
static Jsonb *
erase_details(GdprGraph *g, const char *reason, List *steps)
{
	static const char *const actions[] = {"deleted", "anonymized", "kept"};
	JsonbParseState *state = NULL;
	JsonbValue	v;
	ListCell   *lc;
	int			a;

	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	jsonb_push_string(&state, "reason", reason);
	for (a = 0; a < lengthof(actions); a++)
	{
		bool		any = false;

		foreach(lc, steps)
		{
			GdprPlanStep *s = (GdprPlanStep *) lfirst(lc);
			const char *relname = NULL;
			int			i;

			if (strcmp(s->action, actions[a]) != 0)
				continue;
			if (!any)
			{
				jsonb_push_key(&state, actions[a]);
				(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
				any = true;
			}
			for (i = 0; i < g->nnodes && relname == NULL; i++)
				if (g->nodes[i].relid == s->relid)
					relname = g->nodes[i].qname;
			jsonb_push_key(&state, relname ? relname : gdpr_relation_name(s->relid));
			v.type = jbvNumeric;
			v.val.numeric = DatumGetNumeric(DirectFunctionCall1(int8_numeric,
																Int64GetDatum(s->rows)));
			(void) pushJsonbValue(&state, WJB_VALUE, &v);
		}
		if (any)
			(void) pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* whether a table of the graph has row-level security enabled */
static bool
graph_has_rls(GdprGraph *g)
{
	if (g->rls_state == 0)
	{
		int			i,
					l;

		g->rls_state = -1;
		for (i = 0; i < g->nnodes && g->rls_state < 0; i++)
			for (l = -1; l < g->nodes[i].nleaves; l++)
			{
				Oid			relid = l < 0 ? g->nodes[i].relid : g->nodes[i].leaves[l];
				HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));

				if (!HeapTupleIsValid(tup))
					continue;
				if (((Form_pg_class) GETSTRUCT(tup))->relrowsecurity)
					g->rls_state = 1;
				ReleaseSysCache(tup);
			}
	}
	return g->rls_state > 0;
}

/*
 * The work of gdpr.erase(); must run inside SPI.  Coerced key of the key
 * column's type.
 */
static List *
erase_subject_spi(GdprGraph *g, Datum key, Oid keytype, const char *reason,
				  bool dry_run)
{
	Oid			subject = g->subject;
	EraseState *st;
	List	   *steps = NIL;
	int64		changed = 0;
	int64		nconsent;
	char	   *keytext;
	int			node;
	Oid			consent_tab;


	key = coerce_subject_key(g, key, keytype);
	keytext = gdpr_key_text(key, g->keytype);

	if (g->fused_state == 0)
		fused_prepare(g);
	if (!dry_run && g->fused_state > 0 && pgstat_track_counts)
	{
		st = erase_state_create(g, false);
		fused_run(st, key);
	}
	else
	{
		st = erase_state_create(g, true);
		collect(st, key, !dry_run);
		decide(st);
	}

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
	nconsent = consent_events(g, keytext, !dry_run, key);
	consent_tab = gdpr_table_oid("consent_event", true);
	if (nconsent > 0)
		steps = lappend(steps, make_step(consent_tab, "deleted", nconsent));
	changed += nconsent;

	if (changed == 0)
		return NIL;				/* nothing to do: no change, no audit */
	if (dry_run)
		return steps;

	if (g->fused_state <= 0 || !pgstat_track_counts)
		apply(st);

	/* the one audit entry: counts and subject_ref, never the key */
	{
		char	   *ref = gdpr_subject_ref_text(g->nodes[0].qname, keytext);

		gdpr_audit_append("erase", ref, subject, erase_details(g, reason, steps));
		complete_requests(g, ref);
	}
	return steps;
}

List *
gdpr_erase_subject(Oid subject_relid, Datum key, Oid keytype,
				   const char *reason, bool dry_run)
{
	GdprGraph  *g;
	List	   *steps;
	int			save_nestlevel = 0;
	MemoryContext outer = CurrentMemoryContext;
	ListCell   *lc;
	List	   *result = NIL;

	subject_relid = gdpr_top_relation(subject_relid);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	g = gdpr_subject_graph(subject_relid);

	/*
	 * Row-level security must not hide rows of the subject: with
	 * row_security off a policy that would filter raises an error instead,
	 * and nothing is erased half-way.  (The graph is rebuilt when a table's
	 * row security is switched on.)
	 */
	if (graph_has_rls(g))
	{
		save_nestlevel = NewGUCNestLevel();
		(void) set_config_option("row_security", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
	steps = erase_subject_spi(g, key, keytype, reason, dry_run);
	if (save_nestlevel > 0)
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
	st = erase_state_create(g, true);
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
