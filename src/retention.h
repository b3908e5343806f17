/*-------------------------------------------------------------------------
 *
 * retention.h
 *	  Retention expiry (API section 6): the settings of the background
 *	  worker and the pass that both gdpr.expire() and the worker run.
 *
 * The rules themselves (which rows and columns have run out, delete or
 * anonymize) are gdpr_expire_batch() in retention.c, declared in graph.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GDPR_RETENTION_H
#define GDPR_RETENTION_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

/* settings (worker.c) */
extern char *gdpr_database;
extern int	gdpr_retention_naptime;		/* seconds */
extern int	gdpr_retention_batch_size;
extern bool gdpr_retention_enabled;
extern int	gdpr_retention_runs_keep;	/* minutes; -1 = forever */

/*
 * One batch on one relation, with a limit (batch_size <= 0: no limit).
 * Returns a List of GdprPlanStep; steps with rows = 0 are left out.  Writes
 * one audit entry when it changed something (not in a dry run).
 */
extern List *gdpr_expire_relation(Oid relid, int batch_size, bool dry_run,
								  bool skip_locked);

/* append one row to gdpr.retention_run (caller owns the transaction) */
extern void gdpr_record_run(TimestampTz started, TimestampTz finished,
							Oid relid, const char *action, int64 rows,
							const char *error, const char *source);

/* delete gdpr.retention_run rows older than gdpr.retention_runs_keep */
extern void gdpr_prune_runs(void);

#endif							/* GDPR_RETENTION_H */
