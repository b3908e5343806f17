/*-------------------------------------------------------------------------
 *
 * erase.c
 *	  (placeholder: capability not yet implemented)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gdpr.h"

void
gdpr_erase_init(void)
{
}
