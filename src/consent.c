/*-------------------------------------------------------------------------
 *
 * consent.c
 *	  (placeholder: capability not yet implemented)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gdpr.h"

void
gdpr_consent_init(void)
{
}
