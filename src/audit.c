/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  (placeholder: capability not yet implemented)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gdpr.h"

void
gdpr_audit_init(void)
{
}

/* placeholders until the audit capability lands (see audit.h) */
#include "audit.h"

void
gdpr_audit_append(const char *action, const char *subject_ref,
				  Oid relid, Jsonb *details)
{
}

char *
gdpr_subject_ref(Oid subject_relid, Datum key, Oid keytype)
{
	return pstrdup("");
}

const unsigned char *
gdpr_secret(int *len)
{
	static const unsigned char none[32];

	*len = sizeof(none);
	return none;
}

void
gdpr_hmac(const unsigned char *data, size_t len, unsigned char *out)
{
	memset(out, 0, 32);
}
