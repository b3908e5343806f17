/*-------------------------------------------------------------------------
 *
 * tags.h
 *	  Security labels of provider "gdpr" (API section 2): the parsed form,
 *	  the parser, and the per-backend tag cache.
 *
 * Labels are stored only in pg_seclabel; this cache is their parsed form.
 * An entry is rebuilt after a relcache invalidation of its relation (the
 * label hook sends one for every change; ALTER/DROP TABLE send their own).
 *
 *-------------------------------------------------------------------------
 */
#ifndef GDPR_TAGS_H
#define GDPR_TAGS_H

#include "access/attnum.h"
#include "nodes/pg_list.h"

#define GDPR_MAX_PURPOSES_PER_COLUMN 32

/* the fixed category taxonomy; NULL-terminated */
extern const char *const gdpr_categories[];

/* "name, contact.email, ..." (palloc'd), for hints */
extern char *gdpr_category_list_text(void);

/* parsed table label: any combination of the three clauses */
typedef struct GdprTableLabel
{
	char	   *subject_key;	/* SUBJECT KEY (col), or NULL */
	char	   *retain_from;	/* RETAIN FROM col, or NULL */
	List	   *belongs_to_name;	/* BELONGS TO s: qualified name (String list) */
	char	   *belongs_to_col; /* BELONGS TO s (col) */
} GdprTableLabel;

/* parsed column label */
typedef struct GdprColumnLabel
{
	List	   *purposes;		/* String nodes, downcased per SQL rules */
	char	   *category;		/* NULL when absent */
} GdprColumnLabel;

/*
 * Parsers: raise syntax_error / invalid_parameter_value with the position
 * and what is allowed.  They check syntax only; catalog checks (purpose
 * exists, column exists and has the right type) are done by the provider.
 */
extern GdprTableLabel *gdpr_parse_table_label(const char *label);
extern GdprColumnLabel *gdpr_parse_column_label(const char *label);

/* cached, parsed tags of one relation */
typedef struct GdprColumnTag
{
	AttrNumber	attnum;
	int			npurposes;
	char	  **purposes;
	const char *category;		/* NULL when none */
} GdprColumnTag;

/*
 * Attribute numbers are those of the relation asked for (for a partition,
 * its own columns, matched by name to the labelled parent's).
 */
typedef struct GdprTableTags
{
	Oid			relid;			/* the labelled relation (a partitioned
								 * parent for its partitions) */
	bool		is_subject;
	AttrNumber	subject_key;	/* InvalidAttrNumber unless is_subject */
	AttrNumber	retain_from;	/* InvalidAttrNumber when none */
	Oid			belongs_to;		/* subject relation, or InvalidOid */
	AttrNumber	belongs_to_col; /* column of this relation */
	int			ncolumns;		/* tagged columns */
	GdprColumnTag *columns;
} GdprTableTags;

/*
 * Tags of a relation.  Partitions inherit the labels of their top-most
 * labelled ancestor.  Returns NULL when the relation has no gdpr label at
 * all.  The result lives in the cache: it stays valid (unchanged) until
 * the end of the current transaction even when an invalidation arrives
 * meanwhile (a later call then returns a fresh copy); copy what must
 * survive the transaction.
 */
extern const GdprTableTags *gdpr_table_tags(Oid relid);

/* the column tag of attnum, or NULL */
extern const GdprColumnTag *gdpr_column_tag(const GdprTableTags *tags, AttrNumber attnum);

/* true when the column is tagged with purpose */
extern bool gdpr_column_has_purpose(const GdprColumnTag *tag, const char *purpose);

/* OIDs of all relations that carry a gdpr label (top-level, no partitions) */
extern List *gdpr_labelled_relations(void);

#endif							/* GDPR_TAGS_H */
