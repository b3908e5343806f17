/*-------------------------------------------------------------------------
 *
 * consent.h
 *	  The consent registry (API section 3) and its per-backend cache.
 *
 * Consent is recorded as append-only events in table gdpr.consent_event
 * (grant / withdraw, with proof); the current state is derived from the
 * latest event per (subject relation, key, purpose).  has_consent() and
 * may_process() answer from a per-backend cache keyed by (subject relation,
 * purpose) that holds the keys with active consent and their expiry.  It is
 * built with one scan of the consent table when first needed after an
 * invalidation; a statement trigger on the table (gdpr._relcache_inval)
 * sends a relcache invalidation on every change, so a committed grant or
 * withdrawal is seen by every session at its next statement.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GDPR_CONSENT_H
#define GDPR_CONSENT_H

#include "fmgr.h"

/* table of consent events (schema gdpr) */
#define GDPR_CONSENT_TABLE	"consent_event"

/*
 * Whether the subject (key of type keytype, coerced to the subject key
 * column's type) has active, unexpired consent for purpose.  Reads the
 * cache; no privilege checks.
 */
extern bool gdpr_has_consent(Oid subject_relid, Datum key, Oid keytype,
							 const char *purpose);

/* true when purpose's basis is not consent, else gdpr_has_consent() */
extern bool gdpr_may_process(Oid subject_relid, Datum key, Oid keytype,
							 const char *purpose);

/*
 * Remove the whole consent history of one subject (for erasure, API
 * section 5).  The only way rows leave gdpr.consent_event besides the
 * subject table being dropped.  Returns the number of events removed.
 * Writes no audit entry (the caller writes its own).
 */
extern int64 gdpr_consent_erase_subject(Oid subject_relid, Datum key,
										Oid keytype);

/*
 * Remove the consent history of a relation that is being dropped (its
 * regclass would dangle).  Called from the sql_drop event trigger.
 */
extern int64 gdpr_consent_forget_relation(Oid relid);

#endif							/* GDPR_CONSENT_H */
