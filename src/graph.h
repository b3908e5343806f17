/*-------------------------------------------------------------------------
 *
 * graph.h
 *	  The subject graph: which relations hold rows of a subject table's
 *	  subjects, through declared foreign keys (multi-level, composite,
 *	  partitioned, self references) and BELONGS TO tags; and the
 *	  keep-or-anonymize rules shared by erase and expire (one implementation,
 *	  not two).
 *
 * The graph is computed once per subject table and cached; any relcache
 * invalidation (DDL) of a member relation, or a label change, drops it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GDPR_GRAPH_H
#define GDPR_GRAPH_H

#include "nodes/pg_list.h"

typedef struct GdprPlanStep
{
	Oid			relid;
	const char *action;			/* "deleted" | "anonymized" | "kept" | "nulled" */
	int64		rows;
} GdprPlanStep;

/*
 * Erase (or, with dry_run, plan) all rows of one subject.  Returns a List of
 * GdprPlanStep in the order applied.  Writes the one audit entry.
 */
extern List *gdpr_erase_subject(Oid subject_relid, Datum key, Oid keytype,
								const char *reason, bool dry_run);

/*
 * One batch of retention expiry on one relation: at most batch_size rows,
 * rows locked by others skipped (SKIP LOCKED) when skip_locked.  Returns the
 * steps done (or, with dry_run, that would be done) and writes one audit
 * entry per batch that changed something.  The caller owns the transaction.
 */
extern List *gdpr_expire_batch(Oid relid, int batch_size, bool dry_run,
							   bool skip_locked);

/* relations that have expiry rules (tagged with a purpose with retention) */
extern List *gdpr_expirable_relations(void);

#endif							/* GDPR_GRAPH_H */
