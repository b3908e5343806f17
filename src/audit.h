/*-------------------------------------------------------------------------
 *
 * audit.h
 *	  The tamper-evident audit log (API section 7) and the per-database
 *	  secret.
 *
 * gdpr_audit_append() only buffers the entry in the current transaction; the
 * entries are chained and written at PRE_COMMIT under a short lock, so the
 * chain is built in commit order and an aborted transaction (or
 * subtransaction) leaves nothing behind.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GDPR_AUDIT_H
#define GDPR_AUDIT_H

#include "utils/jsonb.h"

/*
 * Queue an audit entry.  action: one of the actions of API section 11
 * ("erase", "consent.grant", ...).  subject_ref and relid may be NULL /
 * InvalidOid; details may be NULL.  Never pass personal values in details.
 */
extern void gdpr_audit_append(const char *action, const char *subject_ref,
							  Oid relid, Jsonb *details);

/* keyed hash (HMAC-SHA256, hex) of (subject relation name, key text) */
extern char *gdpr_subject_ref(Oid subject_relid, Datum key, Oid keytype);

/*
 * The same from the quoted schema.table of the subject table and the text
 * form of a key already of its key column's type.
 */
extern char *gdpr_subject_ref_text(const char *relname, const char *keytext);

/*
 * The per-database secret (32 bytes), read without privilege checks so no
 * ordinary role needs SELECT on gdpr.secret.  Cached per backend.
 */
extern const unsigned char *gdpr_secret(int *len);

/* HMAC-SHA256 of data with the secret; out must hold 32 bytes */
extern void gdpr_hmac(const unsigned char *data, size_t len, unsigned char *out);

#endif							/* GDPR_AUDIT_H */
