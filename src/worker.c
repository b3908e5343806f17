/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  (placeholder: capability not yet implemented)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gdpr.h"

void
gdpr_worker_init(void)
{
}
