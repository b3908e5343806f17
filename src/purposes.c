/*-------------------------------------------------------------------------
 *
 * purposes.c
 *	  (placeholder: capability not yet implemented)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gdpr.h"

void
gdpr_purposes_init(void)
{
}

/* placeholders until the purposes capability lands (see purposes.h) */
#include "purposes.h"

const GdprPurpose *
gdpr_lookup_purpose(const char *name)
{
	return NULL;
}

const GdprPurpose *
gdpr_get_purpose(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("purpose \"%s\" does not exist", name)));
	return NULL;
}

const char *
gdpr_basis_name(GdprLegalBasis basis)
{
	return "consent";
}
