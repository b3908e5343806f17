/*-------------------------------------------------------------------------
 *
 * digest.h
 *	  SHA-256 and HMAC-SHA256 for the audit chain, subject_ref and consent
 *	  tokens.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GDPR_DIGEST_H
#define GDPR_DIGEST_H

#define GDPR_DIGEST_LEN 32

/* SHA-256 of data */
extern void gdpr_sha256(const uint8 *data, size_t len, uint8 *out);

/*
 * HMAC-SHA256 (RFC 2104) of data under key.  The keyed inner and outer
 * states of the last key are kept, so repeated calls with the same key (the
 * database secret) hash only the data.
 */
extern void gdpr_hmac_sha256(const uint8 *key, size_t keylen,
							 const uint8 *data, size_t len, uint8 *out);

#endif							/* GDPR_DIGEST_H */
