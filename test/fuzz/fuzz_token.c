/*-------------------------------------------------------------------------
 *
 * fuzz_token.c
 *	  libFuzzer target for the consent token decoder of src/consent.c:
 *	  b64url_decode()/b64url_encode() and the framing and signature checks
 *	  of gdpr_withdraw_by_token() up to the point where it reads the
 *	  consent history (SPI).
 *
 * consent.c is #included unchanged, so its static helpers are callable;
 * everything of the backend it needs is in shim.c, gdpr_hmac() is a real
 * HMAC-SHA256 (OpenSSL) with a fixed test secret, and SPI_connect() marks
 * "the token was accepted" and unwinds.
 *
 * The first input byte picks a mode:
 *	 0: the rest is a token text: gdpr_withdraw_by_token() must reject it
 *		with invalid_parameter_value (a forgery must never reach SPI);
 *		b64url_decode() never writes past its buffer, and what it accepts
 *		is canonical (re-encoding gives the same text: one token, one text).
 *	 1: the rest is a payload: a correctly signed token of it is accepted
 *		when its version byte is right (and rejected cleanly otherwise);
 *		the same token with one character changed (position and
 *		replacement from the input) is rejected.
 *	 2: the rest is bytes: decode(encode(bytes)) == bytes.
 *
 *-------------------------------------------------------------------------
 */
#include "../../src/consent.c"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "shim.h"

/* ---- what consent.c needs beyond shim.c */
static const unsigned char test_secret[32] = "gdpr_crm fuzz secret, not real!";
static bool spi_reached;

void
gdpr_hmac(const unsigned char *data, size_t len, unsigned char *out)
{
	unsigned int outlen = 32;

	if (HMAC(EVP_sha256(), test_secret, sizeof(test_secret), data, len, out, &outlen) == NULL)
		abort();
}

int
SPI_connect(void)
{
	spi_reached = true;
	shim_error("fuzz: token accepted, SPI reached");
}

struct varlena *
pg_detoast_datum_packed(struct varlena *datum)
{
	return datum;				/* the harness passes plain 4-byte-header text */
}

/* ---- harness */
static void
fail(const char *what, const uint8_t *data, size_t size)
{
	fprintf(stderr, "contract violated: %s (input %zu bytes)\n", what, size);
	abort();
}

/* call gdpr_withdraw_by_token(text); returns true when SPI was reached */
static bool
withdraw(const char *tok, int len, int *sqlstate)
{
	sigjmp_buf	jb;
	text	   *t = palloc(VARHDRSZ + len);
	LOCAL_FCINFO(fcinfo, 1);

	SET_VARSIZE(t, VARHDRSZ + len);
	memcpy(VARDATA(t), tok, len);
	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = PointerGetDatum(t);
	fcinfo->args[0].isnull = false;

	spi_reached = false;
	*sqlstate = 0;
	shim_catch = &jb;
	if (sigsetjmp(jb, 0) == 0)
	{
		gdpr_withdraw_by_token(fcinfo);
		abort();				/* cannot return without SPI */
	}
	shim_catch = NULL;
	*sqlstate = shim_last_sqlstate;
	return spi_reached;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int			sqlstate;

	if (size < 1 || size > 1024)
		return 0;

	switch (data[0] % 3)
	{
		case 0:
			{
				const char *tok = (const char *) data + 1;
				int			len = (int) size - 1;
				unsigned char *dst = malloc(TOKEN_BYTES + 1);
				int			n = b64url_decode(tok, len, dst, TOKEN_BYTES + 1);

				if (n >= 0)
				{
					char	   *again = b64url_encode(dst, n);

					if ((int) strlen(again) != len || memcmp(again, tok, len) != 0)
						fail("b64url_decode accepted a non-canonical text", data, size);
				}
				free(dst);
				if (withdraw(tok, len, &sqlstate))
					fail("an unsigned token was accepted", data, size);
				if (sqlstate != ERRCODE_INVALID_PARAMETER_VALUE)
					fail("a bad token was not rejected with invalid_parameter_value", data, size);
				break;
			}
		case 1:
			{
				unsigned char tok[TOKEN_BYTES];
				char	   *text;
				int			len;
				size_t		pos;
				char		repl;

				if (size < 1 + TOKEN_PAYLOAD)
					return 0;
				memcpy(tok, data + 1, TOKEN_PAYLOAD);
				token_mac(tok, tok + TOKEN_PAYLOAD);
				text = b64url_encode(tok, TOKEN_BYTES);
				len = strlen(text);
				if (withdraw(text, len, &sqlstate) != (tok[0] == TOKEN_VERSION))
					fail("a correctly signed token was not handled by its version", data, size);
				if (tok[0] != TOKEN_VERSION && sqlstate != ERRCODE_INVALID_PARAMETER_VALUE)
					fail("a wrong version was not rejected with invalid_parameter_value", data, size);
				/* one changed character */
				pos = size > 1 + TOKEN_PAYLOAD ? data[1 + TOKEN_PAYLOAD] % len : 0;
				repl = size > 2 + TOKEN_PAYLOAD ? (char) data[2 + TOKEN_PAYLOAD] : 'A';
				if (text[pos] != repl)
				{
					text[pos] = repl;
					if (withdraw(text, len, &sqlstate))
						fail("a token with a changed character was accepted", data, size);
					if (sqlstate != ERRCODE_INVALID_PARAMETER_VALUE)
						fail("a mangled token was not rejected with invalid_parameter_value", data, size);
				}
				break;
			}
		case 2:
			{
				int			len = (int) size - 1;
				char	   *text = b64url_encode(data + 1, len);
				unsigned char *dst = malloc(len ? len : 1);
				int			n = b64url_decode(text, strlen(text), dst, len);

				if (n != len || memcmp(dst, data + 1, len) != 0)
					fail("decode(encode(x)) != x", data, size);
				free(dst);
				break;
			}
	}
	shim_reset();
	return 0;
}
