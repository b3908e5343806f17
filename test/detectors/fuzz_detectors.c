/*
 * Fuzz driver for src/detectors.c: links detectors.o alone (no server) and
 * feeds it random and mutated values, each in a buffer of exactly its
 * length (built with -fsanitize=address,undefined, any read outside the
 * value is caught).  Also checks a few invariants between detectors.
 *
 *   fuzz_detectors [iterations] [seed]
 */
#include "c.h"

#include <stdio.h>
#include <stdlib.h>

#include "detectors.h"

#undef printf
#undef fprintf

static uint64 rng_state;

static uint32
rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32) rng_state;
}

static const char *const seeds[] = {
	"jan.jansen@example.nl", "+31 (0)6 12345678", "06-12345678", "0031 6 12345678",
	"NL91 ABNA 0417 1643 00", "123.456.782", "4111 1111 1111 1111", "378282246310005",
	"192.168.1.1", "2001:db8::ffff:1.2.3.4", "1234 AB", "(5) 555-4729",
	"bel 06-12345678 of mail jan@example.nl", "IBAN:NL91ABNA0417164300", "::",
	"+1 (780) 428-9482", "first_name", "geboortedatum", "Straße", "prénom",
	"order_email_template", "naam_op_factuur", "klantnaam", "e-mail",
};
static const char alphabet[] = "0123456789     +-().@:/._aAzZsSdDxXnNlLbB\t\xc3\xa9\xff";

static void
fail(const char *what, const char *s, size_t n)
{
	size_t		i;

	fprintf(stderr, "invariant failed: %s on \"", what);
	for (i = 0; i < n; i++)
		fprintf(stderr, (unsigned char) s[i] >= 32 && (unsigned char) s[i] < 127 ? "%c" : "\\x%02x",
				(unsigned char) s[i]);
	fprintf(stderr, "\"\n");
	exit(1);
}

int
main(int argc, char **argv)
{
	long		iterations = argc > 1 ? atol(argv[1]) : 1000000;
	long		it;
	long		hits = 0;
	char		tmp[300];

	rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : 88172645463325252ULL;
	for (it = 0; it < iterations; it++)
	{
		size_t		n = 0;
		char	   *buf;
		uint32		m;
		GdprNameSignal sig;

		if (rnd() % 2)
		{
			/* mutate a seed: flip, insert, delete, truncate */
			const char *sd = seeds[rnd() % lengthof(seeds)];
			int			k,
						muts = 1 + rnd() % 4;

			n = strlen(sd);
			memcpy(tmp, sd, n);
			for (k = 0; k < muts; k++)
			{
				size_t		pos = n ? rnd() % n : 0;

				switch (rnd() % 4)
				{
					case 0:
						if (n)
							tmp[pos] = alphabet[rnd() % (sizeof(alphabet) - 1)];
						break;
					case 1:
						if (n < sizeof(tmp) - 1)
						{
							memmove(tmp + pos + 1, tmp + pos, n - pos);
							tmp[pos] = alphabet[rnd() % (sizeof(alphabet) - 1)];
							n++;
						}
						break;
					case 2:
						if (n)
						{
							memmove(tmp + pos, tmp + pos + 1, n - pos - 1);
							n--;
						}
						break;
					default:
						n = pos;
				}
			}
		}
		else
		{
			n = rnd() % 80;
			for (size_t i = 0; i < n; i++)
				tmp[i] = (rnd() % 4) ? alphabet[rnd() % (sizeof(alphabet) - 1)] : (char) rnd();
		}

		/* exactly n bytes: the sanitizer catches any read beyond them */
		buf = malloc(n ? n : 1);
		memcpy(buf, tmp, n);

		m = gdpr_detect_value(buf, n);
		if (gdpr_is_phone(buf, n) && !gdpr_is_phone_loose(buf, n))
			fail("phone implies phone_loose", buf, n);
		if ((m & (1u << GDPR_DET_EMAIL)) && !gdpr_is_email(buf, n))
			fail("email bit implies gdpr_is_email", buf, n);
		if ((m & (1u << GDPR_DET_IBAN)) && !gdpr_is_iban(buf, n))
			fail("iban bit implies gdpr_is_iban", buf, n);
		if ((m & (1u << GDPR_DET_CARD)) && !gdpr_is_card(buf, n))
			fail("card bit implies gdpr_is_card", buf, n);
		hits += m != 0;
		hits += gdpr_is_bsn(buf, n) + gdpr_is_ipv4(buf, n) + gdpr_is_ipv6(buf, n) +
			gdpr_is_postcode_nl(buf, n) + gdpr_text_has_email(buf, n) +
			gdpr_text_has_phone(buf, n) + gdpr_text_has_iban(buf, n);
		free(buf);

		/* name signals take NUL-terminated names */
		tmp[n] = '\0';
		gdpr_name_signal(tmp, tmp + (n / 2), &sig);
		if (sig.category && (sig.confidence < 0 || sig.confidence > 1))
			fail("confidence in 0..1", tmp, n);
	}
	printf("%ld values, %ld detector hits, no crash, invariants hold\n", iterations, hits);
	return 0;
}
