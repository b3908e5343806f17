/*-------------------------------------------------------------------------
 *
 * purposes.h
 *	  The purpose registry (API section 1), cached per backend.
 *
 * Purposes live in table gdpr.purpose.  The cache is rebuilt after any
 * relcache invalidation of that table (a statement trigger sends one on
 * every change), so a committed define_purpose is seen by every session at
 * its next statement.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GDPR_PURPOSES_H
#define GDPR_PURPOSES_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

typedef enum GdprLegalBasis
{
	GDPR_BASIS_CONSENT,
	GDPR_BASIS_CONTRACT,
	GDPR_BASIS_LEGAL_OBLIGATION,
	GDPR_BASIS_VITAL_INTERESTS,
	GDPR_BASIS_PUBLIC_TASK,
	GDPR_BASIS_LEGITIMATE_INTERESTS
} GdprLegalBasis;

typedef struct GdprPurpose
{
	char		name[NAMEDATALEN];
	GdprLegalBasis basis;
	bool		has_retention;
	Interval	retention;		/* valid when has_retention */
	bool		has_consent_valid_for;
	Interval	consent_valid_for;	/* valid when has_consent_valid_for */
} GdprPurpose;

/*
 * NULL when no such purpose (or extension not installed); never palloc'd.
 * The result stays valid until the end of the current transaction.
 */
extern const GdprPurpose *gdpr_lookup_purpose(const char *name);

/* like gdpr_lookup_purpose, but raises undefined_object naming the purposes */
extern const GdprPurpose *gdpr_get_purpose(const char *name);

extern const char *gdpr_basis_name(GdprLegalBasis basis);

/* basis by its name ("consent", ...); false when no such basis */
extern bool gdpr_parse_basis(const char *name, GdprLegalBasis *basis);

/* sorted names of all purposes (palloc'd copies) */
extern List *gdpr_purpose_names(void);

/* "a, b, c" (quoted where needed) of all purposes, or NULL when none */
extern char *gdpr_purpose_list_text(void);

/* raise undefined_object for purpose name, listing the defined ones */
extern void gdpr_report_unknown_purpose(const char *name) pg_attribute_noreturn();

/*
 * Audit a purpose or tag change: details (may be NULL) plus "role", the
 * role that made the change.  Never pass personal values.
 */
extern void gdpr_audit_change(const char *action, Oid relid, Jsonb *details);

#endif							/* GDPR_PURPOSES_H */
