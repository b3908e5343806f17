/*-------------------------------------------------------------------------
 *
 * digest.c
 *	  SHA-256 and HMAC-SHA256 for the audit chain, subject_ref and consent
 *	  tokens.
 *
 * Every erasure, consent change and audit entry hashes a little data, so
 * the fixed cost per hash matters more than the throughput.  With OpenSSL
 * (the server's own build uses it) the digest implementation is fetched
 * once per backend, and the HMAC's inner and outer states after the key
 * blocks are kept: a call copies them and hashes only the data.  Through
 * pg_cryptohash/pg_hmac every call fetched the implementation again and
 * re-keyed the HMAC, several times the work for a 100-byte input.  Without
 * OpenSSL the server's pg_cryptohash/pg_hmac are used; the results are the
 * same bytes either way (RFC 2104, FIPS 180-4).
 *
 * The OpenSSL objects live for the life of the backend (allocated by
 * OpenSSL, not in a memory context); every use starts by (re)initialising
 * or copying into them, so an error half-way leaves nothing behind.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "digest.h"

static void
digest_failed(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("could not compute %s", what)));
}

#ifdef USE_OPENSSL

#include <openssl/evp.h>

#define SHA256_BLOCK 64

static EVP_MD *sha256_md = NULL;
static EVP_MD_CTX *work_ctx = NULL;
static EVP_MD_CTX *inner_ctx = NULL;	/* after key ^ ipad */
static EVP_MD_CTX *outer_ctx = NULL;	/* after key ^ opad */
static uint8 hmac_key[SHA256_BLOCK];	/* the key of inner/outer_ctx */
static size_t hmac_keylen = 0;
static bool hmac_keyed = false;

static void
digest_setup(void)
{
	if (sha256_md != NULL)
		return;
	work_ctx = EVP_MD_CTX_new();
	inner_ctx = EVP_MD_CTX_new();
	outer_ctx = EVP_MD_CTX_new();
	if (work_ctx == NULL || inner_ctx == NULL || outer_ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
#else
	sha256_md = (EVP_MD *) EVP_sha256();
#endif
	if (sha256_md == NULL)
		digest_failed("SHA-256: digest not available");
}

void
gdpr_sha256(const uint8 *data, size_t len, uint8 *out)
{
	unsigned int outlen;

	digest_setup();
	if (EVP_DigestInit_ex(work_ctx, sha256_md, NULL) != 1 ||
		EVP_DigestUpdate(work_ctx, data, len) != 1 ||
		EVP_DigestFinal_ex(work_ctx, out, &outlen) != 1 ||
		outlen != GDPR_DIGEST_LEN)
		digest_failed("SHA-256 hash");
}

/* the inner and outer states for key (RFC 2104: K ^ ipad, K ^ opad) */
static void
hmac_set_key(const uint8 *key, size_t keylen)
{
	uint8		block[SHA256_BLOCK];
	uint8		pad[SHA256_BLOCK];
	int			i;
	bool		ok;

	hmac_keyed = false;
	memset(block, 0, sizeof(block));
	if (keylen > SHA256_BLOCK)
		gdpr_sha256(key, keylen, block);
	else
		memcpy(block, key, keylen);

	for (i = 0; i < SHA256_BLOCK; i++)
		pad[i] = block[i] ^ 0x36;
	ok = EVP_DigestInit_ex(inner_ctx, sha256_md, NULL) == 1 &&
		EVP_DigestUpdate(inner_ctx, pad, SHA256_BLOCK) == 1;
	for (i = 0; i < SHA256_BLOCK; i++)
		pad[i] = block[i] ^ 0x5c;
	ok = ok && EVP_DigestInit_ex(outer_ctx, sha256_md, NULL) == 1 &&
		EVP_DigestUpdate(outer_ctx, pad, SHA256_BLOCK) == 1;
	explicit_bzero(block, sizeof(block));
	explicit_bzero(pad, sizeof(pad));
	if (!ok)
		digest_failed("HMAC-SHA256 key");

	if (keylen <= SHA256_BLOCK)
	{
		memcpy(hmac_key, key, keylen);
		hmac_keylen = keylen;
		hmac_keyed = true;
	}
}

void
gdpr_hmac_sha256(const uint8 *key, size_t keylen,
				 const uint8 *data, size_t len, uint8 *out)
{
	uint8		inner[GDPR_DIGEST_LEN];
	unsigned int outlen;
	bool		ok;

	digest_setup();
	if (!hmac_keyed || keylen != hmac_keylen || memcmp(key, hmac_key, keylen) != 0)
		hmac_set_key(key, keylen);

	ok = EVP_MD_CTX_copy_ex(work_ctx, inner_ctx) == 1 &&
		EVP_DigestUpdate(work_ctx, data, len) == 1 &&
		EVP_DigestFinal_ex(work_ctx, inner, &outlen) == 1 &&
		outlen == GDPR_DIGEST_LEN &&
		EVP_MD_CTX_copy_ex(work_ctx, outer_ctx) == 1 &&
		EVP_DigestUpdate(work_ctx, inner, GDPR_DIGEST_LEN) == 1 &&
		EVP_DigestFinal_ex(work_ctx, out, &outlen) == 1 &&
		outlen == GDPR_DIGEST_LEN;
	explicit_bzero(inner, sizeof(inner));
	if (!ok)
		digest_failed("HMAC-SHA256");
}

#else							/* !USE_OPENSSL */

#include "common/cryptohash.h"
#include "common/hmac.h"

/* the server's own; a context left behind by an error is freed at abort */
void
gdpr_sha256(const uint8 *data, size_t len, uint8 *out)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, data, len) < 0 ||
		pg_cryptohash_final(ctx, out, GDPR_DIGEST_LEN) < 0)
		digest_failed("SHA-256 hash");
	pg_cryptohash_free(ctx);
}

void
gdpr_hmac_sha256(const uint8 *key, size_t keylen,
				 const uint8 *data, size_t len, uint8 *out)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);

	if (ctx == NULL ||
		pg_hmac_init(ctx, key, keylen) < 0 ||
		pg_hmac_update(ctx, data, len) < 0 ||
		pg_hmac_final(ctx, out, GDPR_DIGEST_LEN) < 0)
		digest_failed("HMAC-SHA256");
	pg_hmac_free(ctx);
}

#endif							/* USE_OPENSSL */
