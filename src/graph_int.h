/*-------------------------------------------------------------------------
 *
 * graph_int.h
 *	  The cached subject graph, shared by graph.c and erase.c only.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GDPR_GRAPH_INT_H
#define GDPR_GRAPH_INT_H

#include "executor/spi.h"
#include "graph.h"

/* node roles */
#define GDPR_ROLE_SUBJECT	'S'		/* the subject table */
#define GDPR_ROLE_DOWN		'D'		/* references the subject's rows */
#define GDPR_ROLE_UP		'U'		/* the subject's rows point to it */
#define GDPR_ROLE_LINK		'L'		/* another subject table linking in */
#define GDPR_ROLE_OUTSIDE	'O'		/* references an UP node, not the subject's */

/* edge kinds */
#define GDPR_EDGE_DOWN		'D'		/* child's rows are the subject's via parent */
#define GDPR_EDGE_UP		'U'		/* a row of child (in the set) points to parent */
#define GDPR_EDGE_LINK		'L'		/* another subject's row points into the set */
#define GDPR_EDGE_IN		'I'		/* any key into an UP node (sharing test) */

/* roles whose rows are the subject's */
static inline bool
role_is_set(char role)
{
	return role == GDPR_ROLE_SUBJECT || role == GDPR_ROLE_DOWN || role == GDPR_ROLE_UP;
}

typedef struct GdprGraphNode
{
	Oid			relid;			/* top-most relation */
	char		role;
	char	   *qname;			/* quoted schema.table */
	bool		partitioned;
	int			nleaves;
	Oid		   *leaves;			/* tables holding the rows */
	char	  **leafnames;		/* quoted schema.table */
	char	   *keep_expr;		/* alias t; NULL: nothing keeps rows */
	char	   *set_list;		/* alias t; NULL: nothing to clear */
	char	   *needed_expr;	/* alias t */
} GdprGraphNode;

typedef struct GdprGraphEdge
{
	char		kind;
	int			child;			/* node index */
	int			parent;			/* node index */
	GdprForeignKey *fk;
} GdprGraphEdge;

typedef struct GdprCachedPlan
{
	char	   *sql;
	int			nargs;
	SPIPlanPtr	plan;
} GdprCachedPlan;

typedef struct GdprGraph
{
	Oid			subject;
	AttrNumber	keyattnum;
	char	   *keycol;			/* quoted */
	Oid			keytype;
	int32		keytypmod;
	Oid			keycoll;
	int			nnodes;
	int			maxnodes;
	GdprGraphNode *nodes;
	int			nedges;
	int			maxedges;
	GdprGraphEdge *edges;
	List	   *plans;			/* GdprCachedPlan * */
	Oid			extowner;		/* owner of the extension, once looked up */
	int			has_requests;	/* gdpr._complete_erasure_requests: 0 unknown */
	int			rls_state;		/* row-level security on a table: 0 unknown */
	int			fused_state;	/* 0 unknown, 1 one statement erases, -1 no */
	char	   *fused_sql;
	int			fused_ncols;
	int		   *fused_node;
	char	   *fused_what;		/* 'l' links cleared */
	int		   *fused_set;		/* nodes whose deletions are counted */
	int			fused_nset;
	bool		fused_cascade;	/* the foreign keys' cascades do it all */
} GdprGraph;

/* the cached graph of a subject table; valid until the next call */
extern GdprGraph *gdpr_subject_graph(Oid subject);

/* a kept SPI plan of a statement of graph g */
extern SPIPlanPtr gdpr_graph_plan(GdprGraph *g, const char *sql, int nargs,
								  Oid *argtypes);

#endif							/* GDPR_GRAPH_INT_H */
