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
 * invalidation (DDL, a label change, a purpose change) drops it.
 *
 * SQL text helpers below return palloc'd SQL fragments in which every
 * identifier is quoted; "alias" is the (already safe) alias under which the
 * row of the relation is visible in the surrounding statement.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GDPR_GRAPH_H
#define GDPR_GRAPH_H

#include "access/attnum.h"
#include "executor/spi.h"
#include "nodes/pg_list.h"

typedef struct GdprPlanStep
{
	Oid			relid;
	const char *action;			/* "deleted" | "anonymized" | "kept" | "nulled" */
	int64		rows;
} GdprPlanStep;

/* ---------------------------------------------------------------------
 * Foreign keys, as the graph sees them: both ends mapped to their top-most
 * partitioned ancestor (results name the parent), the constraint's own
 * relations kept for scanning (a key that exists only on some partitions
 * is scanned only there).
 * ---------------------------------------------------------------------
 */
typedef struct GdprForeignKey
{
	Oid			conoid;			/* InvalidOid for a BELONGS TO link */
	Oid			child;			/* referencing relation (top-most) */
	Oid			child_scan;		/* relation the key is declared on */
	Oid			parent;			/* referenced relation (top-most) */
	Oid			parent_scan;	/* relation the key references */
	int			nkeys;
	char	  **child_cols;		/* quoted column names */
	char	  **parent_cols;	/* quoted column names */
	bool		child_nullable; /* every referencing column is nullable */
	bool		deferrable;
	char		ondelete;		/* pg_constraint.confdeltype; 'a' for BELONGS TO */
} GdprForeignKey;

/* all foreign keys (and BELONGS TO links) referencing relid (top-most) */
extern List *gdpr_fks_referencing(Oid relid);

/* all foreign keys (and BELONGS TO links) of relid (top-most) */
extern List *gdpr_fks_of(Oid relid);

/* top-most partitioned ancestor of relid (relid itself when none) */
extern Oid	gdpr_top_relation(Oid relid);

/* leaf partitions (relkind 'r') of relid, or relid itself for a table */
extern List *gdpr_leaf_relations(Oid relid);

/* ---------------------------------------------------------------------
 * Keep-or-anonymize rules of one relation (shared by erase and expire).
 * ---------------------------------------------------------------------
 */

/*
 * The retention clock of a row of relid as a timestamptz SQL expression: its
 * RETAIN FROM column, or else that of the nearest row it references (through
 * foreign keys) that has one.  NULL when there is none.
 */
extern char *gdpr_clock_expr(Oid relid, const char *alias);

/*
 * Boolean SQL expression: the row is still inside the retention of a
 * legal_obligation purpose one of its columns is tagged with.  NULL when no
 * column of relid is tagged with a legal_obligation purpose (nothing keeps
 * the rows).  A row with no clock counts as inside (it never expires by
 * itself); a purpose without retention keeps for ever.
 */
extern char *gdpr_keep_expr(Oid relid, const char *alias);

/*
 * Boolean SQL expression: purpose is still running for the row (the purpose
 * has a retention and clock + retention > now(); no clock or no retention:
 * true).
 */
extern char *gdpr_purpose_running_expr(Oid relid, const char *purpose,
									   const char *alias);

/*
 * Whether erase and expire can clear the column: it is nullable, or its type
 * has a neutral value (see gdpr_clear_value_test), or it has a constant
 * DEFAULT, which is then the cleared value.
 */
extern bool gdpr_column_clearable(Oid relid, AttrNumber attnum);

/* the neutral value of a column when cleared: "NULL" or a typed literal */
extern char *gdpr_clear_value_expr(Oid relid, AttrNumber attnum);

/*
 * The same, and in *is_neutral a boolean SQL expression that is true when
 * colref (an already qualified, quoted column reference) holds a value the
 * clearing would not change: NULL, an 'erased-N' or negative sequence value
 * (unique columns), or the typed neutral literal.
 */
extern char *gdpr_clear_value_test(Oid relid, AttrNumber attnum,
								   const char *colref, char **is_neutral);

/*
 * Anonymization of relid's rows: a SET list ("c1" = ..., "c2" = ...) that
 * clears every tagged column except those tagged with a legal_obligation
 * purpose still running for the row (and except key columns other rows
 * reference), and a boolean SQL expression that is true while a row still
 * holds something that list would clear.  Both NULL when nothing of relid
 * can be cleared.
 */
extern char *gdpr_anonymize_set_list(Oid relid, const char *alias);
extern char *gdpr_anonymize_needed_expr(Oid relid, const char *alias);

/* ---------------------------------------------------------------------
 * Erase and the subject's reach.
 * ---------------------------------------------------------------------
 */

/* one row of a subject, as found by gdpr_subject_rows() */
typedef struct GdprSubjectRow
{
	Oid			relid;			/* top-most relation */
	Oid			leaf;			/* the partition (or relid) holding it */
	ItemPointerData tid;
} GdprSubjectRow;

/*
 * Every row of one subject across the graph (the reach of erase: the rows
 * erase would delete or anonymize).  Returns a List of GdprSubjectRow.
 * Must be called inside SPI.
 */
extern List *gdpr_subject_rows(Oid subject_relid, Datum key, Oid keytype);

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
 * (Implemented in retention.c.)
 */
extern List *gdpr_expire_batch(Oid relid, int batch_size, bool dry_run,
							   bool skip_locked);

/* relations that have expiry rules (tagged with a purpose with retention) */
extern List *gdpr_expirable_relations(void);

#endif							/* GDPR_GRAPH_H */
