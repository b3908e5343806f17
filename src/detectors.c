/*-------------------------------------------------------------------------
 *
 * detectors.c
 *	  Validating detectors of personal data (e-mail, phone, IBAN, BSN,
 *	  payment card, IPv4/IPv6, Dutch postcode) and column-name signals.
 *
 * Pure C on (pointer, length): no allocation, no server calls, nothing read
 * outside the given bytes.  See detectors.h for the contract.
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "detectors.h"

/* ---------------------------------------------------------------- helpers */

/* strlcpy/strlcat without libpgport, so that detectors.o links alone */
static void
copy_str(char *dst, const char *src, size_t size)
{
	size_t		n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
cat_str(char *dst, const char *src, size_t size)
{
	size_t		n = strlen(dst);

	if (n < size)
		copy_str(dst + n, src, size - n);
}

#define IS_DIGIT(c)	((c) >= '0' && (c) <= '9')
#define IS_UPPER(c)	((c) >= 'A' && (c) <= 'Z')
#define IS_LOWER(c)	((c) >= 'a' && (c) <= 'z')
#define IS_ALPHA(c)	(IS_UPPER(c) || IS_LOWER(c))
#define IS_ALNUM(c)	(IS_ALPHA(c) || IS_DIGIT(c))
#define IS_SPACE(c)	((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r' || (c) == '\f' || (c) == '\v')
#define IS_HEX(c)	(IS_DIGIT(c) || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
#define TO_UPPER(c)	(IS_LOWER(c) ? (c) - 'a' + 'A' : (c))

const char *const gdpr_detector_names[] = {
	"nonnull", "email", "phone", "phone_loose", "iban", "bsn", "card",
	"ipv4", "ipv6", "postcode_nl", "email_in_text", "phone_in_text",
	"iban_in_text"
};

StaticAssertDecl(lengthof(gdpr_detector_names) == GDPR_DET_NSLOTS,
				 "gdpr_detector_names must match GdprDetector");

const char *
gdpr_detector_category(GdprDetector d)
{
	switch (d)
	{
		case GDPR_DET_EMAIL:
		case GDPR_DET_EMAIL_TEXT:
			return "contact.email";
		case GDPR_DET_PHONE:
		case GDPR_DET_PHONE_LOOSE:
		case GDPR_DET_PHONE_TEXT:
			return "contact.phone";
		case GDPR_DET_IBAN:
		case GDPR_DET_IBAN_TEXT:
		case GDPR_DET_CARD:
			return "financial";
		case GDPR_DET_BSN:
			return "identifier.government";
		case GDPR_DET_IPV4:
		case GDPR_DET_IPV6:
			return "identifier.online";
		case GDPR_DET_POSTCODE_NL:
			return "contact.address";
		default:
			return NULL;
	}
}

/* strip leading and trailing white space */
static inline void
trim(const char **s, size_t *len)
{
	const unsigned char *p = (const unsigned char *) *s;
	size_t		n = *len;

	while (n > 0 && IS_SPACE(p[0]))
	{
		p++;
		n--;
	}
	while (n > 0 && IS_SPACE(p[n - 1]))
		n--;
	*s = (const char *) p;
	*len = n;
}

/* ---------------------------------------------------------------- e-mail */

/* RFC 5322 atext, plus UTF-8 bytes (RFC 6531 internationalized addresses) */
static inline bool
is_atext(unsigned char c)
{
	if (IS_ALNUM(c) || c >= 0x80)
		return true;
	switch (c)
	{
		case '!': case '#': case '$': case '%': case '&': case '\'':
		case '*': case '+': case '/': case '=': case '?': case '^':
		case '_': case '`': case '{': case '|': case '}': case '~':
		case '-':
			return true;
		default:
			return false;
	}
}

/*
 * A host name fit for mail: at least two labels of 1..63 letters, digits,
 * hyphens (not at either end) or UTF-8 bytes, at most 253 bytes, and a
 * top-level label of >= 2 letters or an A-label (xn--...).  No trailing
 * dot, no IP literal.
 */
static bool
check_mail_domain(const unsigned char *d, size_t n)
{
	size_t		i,
				start = 0;
	int			labels = 0;

	if (n < 4 || n > 253)
		return false;
	for (i = 0; i <= n; i++)
	{
		if (i == n || d[i] == '.')
		{
			size_t		llen = i - start;
			const unsigned char *l = d + start;

			if (llen == 0 || llen > 63)
				return false;
			if (l[0] == '-' || l[llen - 1] == '-')
				return false;
			labels++;
			if (i == n)
			{
				/* top-level domain */
				size_t		k;

				if (labels < 2)
					return false;
				if (llen >= 5 && (l[0] == 'x' || l[0] == 'X') &&
					(l[1] == 'n' || l[1] == 'N') && l[2] == '-' && l[3] == '-')
					return true;
				if (llen < 2)
					return false;
				for (k = 0; k < llen; k++)
					if (!(IS_ALPHA(l[k]) || l[k] >= 0x80))
						return false;
				return true;
			}
			start = i + 1;
		}
		else if (!(IS_ALNUM(d[i]) || d[i] == '-' || d[i] >= 0x80))
			return false;
	}
	return false;
}

static bool
check_mail_local(const unsigned char *p, size_t n)
{
	size_t		i;

	if (n < 1 || n > 64)
		return false;
	if (p[0] == '.' || p[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++)
	{
		if (p[i] == '.')
		{
			if (p[i + 1] == '.')	/* i + 1 < n: p[n-1] is no dot */
				return false;
		}
		else if (!is_atext(p[i]))
			return false;
	}
	return true;
}

bool
gdpr_is_email(const char *s, size_t len)
{
	const unsigned char *p;
	const unsigned char *at = NULL;
	size_t		i;

	trim(&s, &len);
	p = (const unsigned char *) s;
	if (len < 6 || len > 254)
		return false;
	for (i = 0; i < len; i++)
	{
		if (p[i] == '@')
		{
			if (at)
				return false;
			at = p + i;
		}
	}
	if (!at)
		return false;
	return check_mail_local(p, at - p) &&
		check_mail_domain(at + 1, len - (at - p) - 1);
}

/* ---------------------------------------------------------------- phones */

typedef struct PhoneParse
{
	char		digits[20];		/* the digits, "(0)" trunk group left out */
	int			ndigits;
	int			ngroups;		/* digit groups, trunk group included */
	int			glen[20];		/* group lengths (first 20) */
	char		gsep[20];		/* separator before group i ('\0' none) */
	bool		plus;			/* leading '+' */
	bool		paren;			/* a parenthesized group */
	bool		trunk;			/* "(0)" after the country code */
	bool		first_paren;	/* the first group is parenthesized */
} PhoneParse;

/*
 * Split a phone-like string into digit groups.  Allowed: an optional
 * leading '+', digits, and between groups a run of at most three
 * separators from " -.()" (and '/' when allow_slash) with at most one
 * punctuation character besides the parentheses; at most one pair of
 * parentheses, holding 1..5 digits.  False when anything else appears.
 */
static bool
phone_parse(const unsigned char *p, size_t n, bool allow_slash, PhoneParse *pp)
{
	size_t		i = 0;
	int			paren_state = 0;	/* 0 none yet, 1 open, 2 closed */
	int			paren_digits = 0;
	int			sep_run = 0;
	int			sep_punct = 0;
	char		last_sep = '\0';
	bool		in_group = false;

	memset(pp, 0, sizeof(PhoneParse));
	if (n == 0 || n > 40)
		return false;
	if (p[0] == '+')
	{
		pp->plus = true;
		i = 1;
		if (n < 2 || !IS_DIGIT(p[1]))
			return false;
	}
	for (; i < n; i++)
	{
		unsigned char c = p[i];

		if (IS_DIGIT(c))
		{
			if (!in_group)
			{
				if (pp->ngroups >= 20)
					return false;
				pp->gsep[pp->ngroups] = last_sep;
				pp->glen[pp->ngroups] = 0;
				pp->ngroups++;
				in_group = true;
				if (paren_state == 1 && pp->ngroups == 1)
					pp->first_paren = true;
			}
			pp->glen[pp->ngroups - 1]++;
			if (paren_state == 1)
				paren_digits++;
			if (pp->ndigits >= 17)
				return false;
			pp->digits[pp->ndigits++] = (char) c;
			sep_run = 0;
			sep_punct = 0;
			last_sep = '\0';
			continue;
		}
		/* a separator */
		in_group = false;
		if (++sep_run > 3)
			return false;
		switch (c)
		{
			case ' ':
				if (last_sep == '\0')
					last_sep = ' ';
				break;
			case '(':
				if (paren_state != 0)
					return false;
				paren_state = 1;
				pp->paren = true;
				last_sep = '(';
				break;
			case ')':
				if (paren_state != 1 || paren_digits < 1 || paren_digits > 5)
					return false;
				/* only digits inside: the ')' follows a digit directly */
				if (!IS_DIGIT(p[i - 1]))
					return false;
				paren_state = 2;
				/* "(0)" after a country code: trunk prefix, not dialled */
				if (paren_digits == 1 && p[i - 1] == '0' && pp->plus &&
					pp->ngroups >= 2)
				{
					pp->trunk = true;
					pp->ndigits--;
				}
				last_sep = ')';
				break;
			case '/':
				if (!allow_slash)
					return false;
				/* FALLTHROUGH */
			case '-':
			case '.':
				if (++sep_punct > 1)
					return false;
				last_sep = (char) c;
				break;
			default:
				return false;
		}
		/* '(' must open a group of digits: nothing but digits inside */
		if (paren_state == 1 && c != '(')
			return false;
	}
	if (paren_state == 1)
		return false;
	/* must end in a digit */
	if (!IS_DIGIT(p[n - 1]))
		return false;
	/* must start with '+', a digit, or '(' */
	if (!(pp->plus || IS_DIGIT(p[0]) || p[0] == '('))
		return false;
	return pp->ndigits > 0;
}

/* length of the ITU country calling code at the start of d */
static int
country_code_length(const char *d)
{
	int			two;

	if (d[0] == '1' || d[0] == '7')
		return 1;
	two = (d[0] - '0') * 10 + (d[1] - '0');
	switch (two)
	{
		case 20: case 27: case 30: case 31: case 32: case 33: case 34:
		case 36: case 39: case 40: case 41: case 43: case 44: case 45:
		case 46: case 47: case 48: case 49: case 51: case 52: case 53:
		case 54: case 55: case 56: case 57: case 58: case 60: case 61:
		case 62: case 63: case 64: case 65: case 66: case 81: case 82:
		case 84: case 86: case 90: case 91: case 92: case 93: case 94:
		case 95: case 98:
			return 2;
		default:
			return 3;
	}
}

/* international number: digits d[0..n) start with the country code */
static bool
phone_international(const char *d, int n, bool trunk)
{
	int			cc,
				nat;

	if (n < 8 || n > 15 || d[0] == '0')
		return false;
	cc = country_code_length(d);
	nat = n - cc;
	/* no trunk '0' in the international form (Italy keeps its 0) */
	if (d[cc] == '0' && !(cc == 2 && d[0] == '3' && d[1] == '9'))
		return false;
	if (trunk && d[0] == '3' && d[1] == '9')
		return false;
	if (cc == 2 && d[0] == '3' && d[1] == '1')	/* Netherlands */
		return nat == 9;
	if (cc == 1 && d[0] == '1')	/* NANP: NPA-NXX-XXXX */
		return nat == 10 && d[1] >= '2' && d[4] >= '2';
	if (cc == 2 && d[0] == '4' && d[1] == '4')	/* United Kingdom */
		return nat == 9 || nat == 10;
	if (cc == 2 && d[0] == '3' && d[1] == '2')	/* Belgium */
		return nat == 8 || nat == 9;
	if (cc == 2 && d[0] == '3' && d[1] == '3')	/* France */
		return nat == 9;
	if (cc == 2 && d[0] == '4' && d[1] == '9')	/* Germany */
		return nat >= 6 && nat <= 13;
	return nat >= 4 && nat <= 14;
}

static bool
phone_strict_parsed(const PhoneParse *pp)
{
	const char *d = pp->digits;
	int			n = pp->ndigits;

	if (pp->plus)
		return phone_international(d, n, pp->trunk);
	if (pp->trunk)
		return false;
	if (n >= 2 && d[0] == '0' && d[1] == '0')
	{
		/* 00 international prefix: 0031 6 12345678 */
		return phone_international(d + 2, n - 2, false);
	}
	if (n >= 1 && d[0] == '0')
	{
		/* Dutch national number: a first group of at least two digits */
		if (!pp->first_paren && pp->glen[0] < 2)
			return false;
		if (n == 10 && d[1] >= '1' && d[1] <= '9')
			return true;
		/* 0800 / 0900 / 0906 / 0909 service numbers: 4 to 7 more digits */
		if (n >= 8 && n <= 11 && d[1] == '9' && d[2] == '0' &&
			(d[3] == '0' || d[3] == '6' || d[3] == '9'))
			return true;
		if (n >= 8 && n <= 11 && d[1] == '8' && d[2] == '0' && d[3] == '0')
			return true;
	}
	return false;
}

bool
gdpr_is_phone(const char *s, size_t len)
{
	PhoneParse	pp;

	trim(&s, &len);
	if (len < 8 || !phone_parse((const unsigned char *) s, len, false, &pp))
		return false;
	return phone_strict_parsed(&pp);
}

/* date-like groups: 2024-01-31, 31.01.2024, 31/1/24 */
static bool
looks_like_date(const PhoneParse *pp)
{
	if (pp->ngroups != 3 || pp->paren || pp->plus)
		return false;
	if (pp->gsep[1] == ' ' || pp->gsep[1] != pp->gsep[2])
		return false;
	if (pp->glen[0] == 4 && pp->glen[1] <= 2 && pp->glen[2] <= 2)
		return true;
	if (pp->glen[0] <= 2 && pp->glen[1] <= 2 && (pp->glen[2] == 4 || pp->glen[2] == 2))
		return true;
	return false;
}

bool
gdpr_is_phone_loose(const char *s, size_t len)
{
	PhoneParse	pp;
	int			i;
	bool		all_dots = true,
				thousands = true;

	trim(&s, &len);
	if (len < 7 || !phone_parse((const unsigned char *) s, len, true, &pp))
		return false;
	if (phone_strict_parsed(&pp))
		return true;
	if (pp.ndigits < 7 || pp.ndigits > 15)
		return false;
	if (pp.ngroups < 2 && !pp.plus)
		return false;
	if (looks_like_date(&pp))
		return false;
	for (i = 1; i < pp.ngroups && i < 20; i++)
	{
		if (pp.gsep[i] != '.')
			all_dots = false;
		if (pp.glen[i] != 3)
			thousands = false;
	}
	/* 1.234.567 is an amount, 3.14159 a decimal */
	if (all_dots && (thousands || pp.ngroups == 2))
		return false;
	/* a dotted quad that is a valid IPv4 address, unless 2-digit groups */
	if (all_dots && pp.ngroups == 4 &&
		!(pp.glen[0] == 2 && pp.glen[1] == 2 && pp.glen[2] == 2 && pp.glen[3] == 2) &&
		gdpr_is_ipv4(s, len))
		return false;
	return true;
}

/* ---------------------------------------------------------------- IBAN */

typedef struct IbanCountry
{
	char		cc[3];
	uint8		length;
} IbanCountry;

/* SWIFT IBAN registry: country code and total IBAN length */
static const IbanCountry iban_countries[] = {
	{"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20},
	{"BE", 16}, {"BG", 22}, {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28},
	{"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27},
	{"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18},
	{"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23},
	{"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22},
	{"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30},
	{"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
	{"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19},
	{"MN", 20}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18},
	{"NO", 15}, {"OM", 23}, {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25},
	{"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24}, {"SC", 31},
	{"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23},
	{"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29},
	{"VA", 22}, {"VG", 24}, {"XK", 20}, {"YE", 30}
};

static int
iban_length(unsigned char a, unsigned char b)
{
	int			i;

	for (i = 0; i < (int) lengthof(iban_countries); i++)
		if (iban_countries[i].cc[0] == a && iban_countries[i].cc[1] == b)
			return iban_countries[i].length;
	return 0;
}

/* c[0..n) upper-case alphanumerics: country, check digits, BBAN */
static bool
iban_check(const unsigned char *c, int n)
{
	int			i,
				rem = 0;

	if (n < 15 || n > 34 || !IS_UPPER(c[0]) || !IS_UPPER(c[1]) ||
		!IS_DIGIT(c[2]) || !IS_DIGIT(c[3]))
		return false;
	if (iban_length(c[0], c[1]) != n)
		return false;
	/* national structure where it is simple and fixed */
	if (c[0] == 'N' && c[1] == 'L')
	{
		for (i = 4; i < 8; i++)
			if (!IS_UPPER(c[i]))
				return false;
		for (i = 8; i < 18; i++)
			if (!IS_DIGIT(c[i]))
				return false;
	}
	else if ((c[0] == 'B' && c[1] == 'E') || (c[0] == 'D' && c[1] == 'E'))
	{
		for (i = 4; i < n; i++)
			if (!IS_DIGIT(c[i]))
				return false;
	}
	/* ISO 7064 mod 97-10 over BBAN + country + check digits */
	for (i = 4; i < n + 4; i++)
	{
		unsigned char ch = c[i < n ? i : i - n];

		if (IS_DIGIT(ch))
			rem = (rem * 10 + (ch - '0')) % 97;
		else
			rem = (rem * 100 + (ch - 'A' + 10)) % 97;
	}
	return rem == 1;
}

/* compact: upper-case alphanumerics, single spaces between them allowed */
bool
gdpr_is_iban(const char *s, size_t len)
{
	const unsigned char *p;
	unsigned char c[34];
	int			n = 0;
	size_t		i;

	trim(&s, &len);
	p = (const unsigned char *) s;
	if (len < 15 || len > 42)
		return false;
	for (i = 0; i < len; i++)
	{
		if (p[i] == ' ')
		{
			if (p[i + 1] == ' ')	/* trimmed: p[len-1] is no space */
				return false;
			continue;
		}
		if (!IS_ALNUM(p[i]) || n >= 34)
			return false;
		c[n++] = TO_UPPER(p[i]);
	}
	return iban_check(c, n);
}

/* ---------------------------------------------------------------- BSN */

/*
 * Burgerservicenummer: 9 digits, 11-test with weights 9..2 and -1 for the
 * last digit.  Written plain (123456782) or in groups 3-3-3 (123.456.782)
 * or 4-2-3 (1234.56.782) with one kind of separator: '.', ' ' or '-'.
 * Amounts such as 5479998.63 are no BSN.
 */
bool
gdpr_is_bsn(const char *s, size_t len)
{
	const unsigned char *p;
	int			d[9];
	int			n = 0,
				sum = 0,
				i,
				nsep = 0;
	int			seppos[2] = {0, 0};
	unsigned char sepchar = 0;
	size_t		k;

	trim(&s, &len);
	p = (const unsigned char *) s;
	if (len < 9 || len > 11)
		return false;
	for (k = 0; k < len; k++)
	{
		if (IS_DIGIT(p[k]))
		{
			if (n >= 9)
				return false;
			d[n++] = p[k] - '0';
		}
		else if ((p[k] == '.' || p[k] == ' ' || p[k] == '-') && nsep < 2 &&
				 (sepchar == 0 || sepchar == p[k]))
		{
			sepchar = p[k];
			seppos[nsep++] = n; /* digits before the separator */
		}
		else
			return false;
	}
	if (n != 9)
		return false;
	if (nsep == 1 || (nsep == 2 && !(seppos[1] == 6 && (seppos[0] == 3 || seppos[0] == 4))))
		return false;
	for (i = 0; i < 8; i++)
		sum += (9 - i) * d[i];
	sum -= d[8];
	/* 000000000 passes the 11-test but is no number */
	return sum % 11 == 0 && sum != 0;
}

/* ---------------------------------------------------------------- cards */

static bool
luhn_ok(const char *d, int n)
{
	int			sum = 0,
				i;
	bool		dbl = false;

	for (i = n - 1; i >= 0; i--)
	{
		int			v = d[i] - '0';

		if (dbl)
		{
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
		dbl = !dbl;
	}
	return sum % 10 == 0;
}

/* issuer identification number ranges and their lengths */
static bool
card_issuer_ok(const char *d, int n)
{
	int			p2 = (d[0] - '0') * 10 + (d[1] - '0');
	int			p3 = p2 * 10 + (d[2] - '0');
	int			p4 = p3 * 10 + (d[3] - '0');
	int			p6 = p4 * 100 + (d[4] - '0') * 10 + (d[5] - '0');

	if (d[0] == '4')			/* Visa */
		return n == 13 || n == 16 || n == 19;
	if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))	/* Mastercard */
		return n == 16;
	if (p2 == 34 || p2 == 37)	/* American Express */
		return n == 15;
	if (p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65 ||
		(p6 >= 622126 && p6 <= 622925))	/* Discover */
		return n >= 16 && n <= 19;
	if (p4 >= 3528 && p4 <= 3589)	/* JCB */
		return n >= 16 && n <= 19;
	if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39)	/* Diners */
		return n >= 14 && n <= 19;
	if (p2 == 62)				/* UnionPay */
		return n >= 16 && n <= 19;
	if (p2 == 50 || (p2 >= 56 && p2 <= 58) || p2 == 63 || p2 == 67)	/* Maestro */
		return n >= 12 && n <= 19;
	return false;
}

bool
gdpr_is_card(const char *s, size_t len)
{
	const unsigned char *p;
	char		d[19];
	int			n = 0;
	size_t		k;

	trim(&s, &len);
	p = (const unsigned char *) s;
	if (len < 12 || len > 23)
		return false;
	for (k = 0; k < len; k++)
	{
		if (IS_DIGIT(p[k]))
		{
			if (n >= 19)
				return false;
			d[n++] = (char) p[k];
		}
		else if ((p[k] == ' ' || p[k] == '-') &&
				 k > 0 && IS_DIGIT(p[k - 1]) && k + 1 < len && IS_DIGIT(p[k + 1]))
			continue;
		else
			return false;
	}
	if (n < 12)
		return false;
	return card_issuer_ok(d, n) && luhn_ok(d, n);
}

/* ---------------------------------------------------------------- IP */

/* inet_pton(AF_INET): exactly four decimal octets, no leading zeros */
static bool
ipv4_parse(const unsigned char *p, size_t n, unsigned char *out)
{
	int			octets = 0;
	int			val = 0;
	bool		saw_digit = false;
	size_t		i;

	if (n < 7 || n > 15)
		return false;
	for (i = 0; i < n; i++)
	{
		if (IS_DIGIT(p[i]))
		{
			if (saw_digit && val == 0)
				return false;	/* leading zero */
			val = val * 10 + (p[i] - '0');
			if (val > 255)
				return false;
			if (!saw_digit)
			{
				if (++octets > 4)
					return false;
				saw_digit = true;
			}
		}
		else if (p[i] == '.' && saw_digit)
		{
			if (octets == 4)
				return false;
			if (out)
				out[octets - 1] = (unsigned char) val;
			val = 0;
			saw_digit = false;
		}
		else
			return false;
	}
	if (octets < 4 || !saw_digit)
		return false;
	if (out)
		out[3] = (unsigned char) val;
	return true;
}

bool
gdpr_is_ipv4(const char *s, size_t len)
{
	trim(&s, &len);
	return ipv4_parse((const unsigned char *) s, len, NULL);
}

/* inet_pton(AF_INET6), after the BSD implementation */
bool
gdpr_is_ipv6(const char *s, size_t len)
{
	const unsigned char *p;
	int			words = 0;		/* 16-bit groups written */
	bool		colonp = false; /* saw "::" */
	bool		saw_xdigit = false;
	int			xdigits = 0;
	size_t		i,
				curtok;

	trim(&s, &len);
	p = (const unsigned char *) s;
	if (len < 2 || len > 45)
		return false;
	i = 0;
	if (p[0] == ':')
	{
		if (p[1] != ':')
			return false;
		i = 1;
	}
	curtok = i;
	for (; i < len; i++)
	{
		unsigned char c = p[i];

		if (IS_HEX(c))
		{
			if (++xdigits > 4)
				return false;
			saw_xdigit = true;
			continue;
		}
		if (c == ':')
		{
			curtok = i + 1;
			if (!saw_xdigit)
			{
				if (colonp)
					return false;
				colonp = true;
				continue;
			}
			if (i + 1 >= len)
				return false;	/* trailing single colon */
			if (++words > 8)
				return false;
			saw_xdigit = false;
			xdigits = 0;
			continue;
		}
		if (c == '.' && words <= 6)
		{
			/* embedded IPv4 in the last 32 bits */
			if (!ipv4_parse(p + curtok, len - curtok, NULL))
				return false;
			words += 2;
			saw_xdigit = false;
			goto done;
		}
		return false;
	}
	if (saw_xdigit)
		words++;
done:
	if (words > 8)
		return false;
	if (colonp)
		return words <= 7;
	return words == 8;
}

/* ---------------------------------------------------------------- postcode */

/* 1234 AB: four digits not starting with 0, optional space, two letters
 * other than SA, SD, SS */
bool
gdpr_is_postcode_nl(const char *s, size_t len)
{
	const unsigned char *p;
	unsigned char a,
				b;

	trim(&s, &len);
	p = (const unsigned char *) s;
	if (len != 6 && len != 7)
		return false;
	if (!(p[0] >= '1' && p[0] <= '9') || !IS_DIGIT(p[1]) || !IS_DIGIT(p[2]) ||
		!IS_DIGIT(p[3]))
		return false;
	if (len == 7 && p[4] != ' ')
		return false;
	a = TO_UPPER(p[len - 2]);
	b = TO_UPPER(p[len - 1]);
	if (!IS_UPPER(a) || !IS_UPPER(b))
		return false;
	if (a == 'S' && (b == 'A' || b == 'D' || b == 'S'))
		return false;
	return true;
}

/* ---------------------------------------------------------------- free text */

static inline bool
is_domain_char(unsigned char c)
{
	return IS_ALNUM(c) || c == '-' || c == '.' || c >= 0x80;
}

bool
gdpr_text_has_email(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i;

	for (i = 1; i + 1 < len; i++)
	{
		size_t		b,
					e;

		if (p[i] != '@')
			continue;
		b = i;
		while (b > 0 && (is_atext(p[b - 1]) || p[b - 1] == '.'))
			b--;
		while (b < i && p[b] == '.')
			b++;
		e = i + 1;
		while (e < len && is_domain_char(p[e]))
			e++;
		while (e > i + 1 && (p[e - 1] == '.' || p[e - 1] == '-'))
			e--;
		if (b < i && e > i + 1 && gdpr_is_email(s + b, e - b))
			return true;
	}
	return false;
}

static inline bool
is_phone_char(unsigned char c)
{
	return IS_DIGIT(c) || c == ' ' || c == '-' || c == '.' || c == '(' ||
		c == ')' || c == '+';
}

bool
gdpr_text_has_phone(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0;

	while (i < len)
	{
		size_t		e,
					cut;
		int			tries;

		/* a candidate starts with '+', '(' or a digit at a word boundary */
		if (!(p[i] == '+' || p[i] == '(' || IS_DIGIT(p[i])) ||
			(i > 0 && (IS_ALNUM(p[i - 1]) || p[i - 1] >= 0x80 || p[i - 1] == '+')))
		{
			i++;
			continue;
		}
		e = i;
		while (e < len && is_phone_char(p[e]) && e - i < 40)
			e++;
		/* the candidate must not run into a word */
		cut = e;
		for (tries = 0; tries < 6 && cut > i; tries++)
		{
			size_t		end = cut;

			while (end > i && !(IS_DIGIT(p[end - 1])))
				end--;
			if (end - i >= 8 &&
				!(end < len && (IS_ALPHA(p[end]) || p[end] >= 0x80)) &&
				gdpr_is_phone(s + i, end - i))
				return true;
			/* try again without the last group */
			while (end > i && p[end - 1] != ' ')
				end--;
			cut = end;
		}
		/* skip the candidate's first token */
		while (i < len && is_phone_char(p[i]) && p[i] != ' ')
			i++;
		i++;
	}
	return false;
}

bool
gdpr_text_has_iban(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i;

	for (i = 0; i + 15 <= len; i++)
	{
		unsigned char c[34];
		int			n = 0,
					want;
		size_t		k;

		if (!(IS_ALPHA(p[i]) && IS_ALPHA(p[i + 1]) && IS_DIGIT(p[i + 2]) &&
			  IS_DIGIT(p[i + 3])))
			continue;
		if (i > 0 && IS_ALNUM(p[i - 1]))
			continue;
		want = iban_length(TO_UPPER(p[i]), TO_UPPER(p[i + 1]));
		if (want == 0)
			continue;
		for (k = i; k < len && n < want; k++)
		{
			if (IS_ALNUM(p[k]))
				c[n++] = TO_UPPER(p[k]);
			else if (p[k] == ' ' && n > 0 && k + 1 < len && IS_ALNUM(p[k + 1]))
				continue;
			else
				break;
		}
		if (n == want && !(k < len && IS_ALNUM(p[k])) && iban_check(c, n))
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------- dispatch */

uint32
gdpr_detect_value(const char *s, size_t len)
{
	const unsigned char *p;
	uint32		m = 0;
	size_t		i;
	int			digits = 0,
				alpha = 0,
				spaces = 0,
				other = 0;
	bool		at = false,
				colon = false,
				dot = false;

	trim(&s, &len);
	p = (const unsigned char *) s;
	if (len > GDPR_DETECT_MAX_SCAN)
		len = GDPR_DETECT_MAX_SCAN;

	/* one pass of character classes picks the detectors worth running */
	for (i = 0; i < len; i++)
	{
		unsigned char c = p[i];

		if (IS_DIGIT(c))
			digits++;
		else if (IS_ALPHA(c))
			alpha++;
		else if (c == ' ')
			spaces++;
		else if (c == '@')
			at = true;
		else if (c == ':')
			colon = true;
		else if (c == '.')
			dot = true;
		else
			other++;
	}

	if (at)
	{
		if (spaces == 0 && gdpr_is_email(s, len))
			return 1u << GDPR_DET_EMAIL;
	}
	else if (alpha == 0 && !colon && dot && spaces == 0 && other == 0 &&
			 len <= 15 && gdpr_is_ipv4(s, len))
		return 1u << GDPR_DET_IPV4;
	else if (alpha == 0 && !colon && digits >= 7)
	{
		/* only digits and punctuation: phone, BSN, card, IPv4 */
		if (gdpr_is_phone_loose(s, len))
		{
			m |= 1u << GDPR_DET_PHONE_LOOSE;
			if (gdpr_is_phone(s, len))
				m |= 1u << GDPR_DET_PHONE;
		}
		if (digits == 9 && gdpr_is_bsn(s, len))
			m |= 1u << GDPR_DET_BSN;
		if (digits >= 12 && digits <= 19 && gdpr_is_card(s, len))
			m |= 1u << GDPR_DET_CARD;
		if (m)
			return m;
	}
	else if (colon && spaces == 0)
	{
		if (gdpr_is_ipv6(s, len))
			return 1u << GDPR_DET_IPV6;
	}
	else if (alpha >= 2 && digits >= 4)
	{
		if (len >= 15 && len <= 42 && IS_ALPHA(p[0]) && gdpr_is_iban(s, len))
			return 1u << GDPR_DET_IBAN;
		if ((len == 6 || len == 7) && gdpr_is_postcode_nl(s, len))
			return 1u << GDPR_DET_POSTCODE_NL;
	}

	/* free text: look for embedded e-mail addresses, phones, IBANs */
	if (spaces > 0 || alpha > 0)
	{
		if (at && gdpr_text_has_email(s, len))
			m |= 1u << GDPR_DET_EMAIL_TEXT;
		if (digits >= 8 && gdpr_text_has_phone(s, len))
			m |= 1u << GDPR_DET_PHONE_TEXT;
		if (digits >= 8 && alpha >= 2 && len >= 15 && gdpr_text_has_iban(s, len))
			m |= 1u << GDPR_DET_IBAN_TEXT;
	}
	return m;
}

/* ---------------------------------------------------------------- names */

#define MAX_TOKENS	12
#define MAX_TOKLEN	40

typedef struct Tokens
{
	int			n;
	char		tok[MAX_TOKENS][MAX_TOKLEN];
} Tokens;

/*
 * Fold a UTF-8 sequence of Latin-1 supplement letters to ASCII; returns the
 * number of input bytes consumed and writes up to two ASCII letters.
 */
static int
fold_utf8(const unsigned char *p, size_t n, char *out, int *nout)
{
	*nout = 0;
	if (n >= 2 && p[0] == 0xC3)
	{
		unsigned char c = p[1] | 0x20;	/* lower case: C3 80..9E -> A0..BE */
		const char *m = NULL;

		if (c >= 0xA0 && c <= 0xA5)
			m = "a";
		else if (c == 0xA7)
			m = "c";
		else if (c >= 0xA8 && c <= 0xAB)
			m = "e";
		else if (c >= 0xAC && c <= 0xAF)
			m = "i";
		else if (c == 0xB1)
			m = "n";
		else if ((c >= 0xB2 && c <= 0xB6) || c == 0xB8)
			m = "o";
		else if (c >= 0xB9 && c <= 0xBC)
			m = "u";
		else if (p[1] == 0x9F)
			m = "ss";
		if (m)
		{
			*nout = (int) strlen(m);
			memcpy(out, m, *nout);
		}
		return 2;
	}
	/* other multi-byte sequences: skip them whole */
	if (p[0] >= 0xF0)
		return Min(n, 4);
	if (p[0] >= 0xE0)
		return Min(n, 3);
	if (p[0] >= 0xC0)
		return Min(n, 2);
	return 1;
}

static void
tokenize(const char *name, Tokens *t)
{
	const unsigned char *p = (const unsigned char *) name;
	size_t		n = strlen(name);
	size_t		i = 0;
	int			cur = -1,
				len = 0;
	int			prev_kind = 0;	/* 0 none, 1 lower, 2 upper, 3 digit */

	t->n = 0;
	while (i < n)
	{
		char		buf[2];
		int			nb = 0,
					kind,
					k;
		unsigned char c = p[i];

		if (c >= 0x80)
		{
			i += fold_utf8(p + i, n - i, buf, &nb);
			if (nb == 0)
			{
				prev_kind = 0;
				cur = -1;
				continue;
			}
			kind = 1;
		}
		else
		{
			i++;
			if (IS_LOWER(c))
				kind = 1;
			else if (IS_UPPER(c))
				kind = 2;
			else if (IS_DIGIT(c))
				kind = 3;
			else
			{
				prev_kind = 0;
				cur = -1;
				continue;
			}
			buf[0] = (char) (kind == 2 ? c - 'A' + 'a' : c);
			nb = 1;
		}
		/* new token: after a separator, lower->Upper, letter<->digit */
		if (cur < 0 || (prev_kind == 1 && kind == 2) ||
			(prev_kind == 3) != (kind == 3))
		{
			if (t->n >= MAX_TOKENS)
				return;
			cur = t->n++;
			len = 0;
			t->tok[cur][0] = '\0';
		}
		for (k = 0; k < nb; k++)
		{
			if (len < MAX_TOKLEN - 1)
			{
				t->tok[cur][len++] = buf[k];
				t->tok[cur][len] = '\0';
			}
		}
		prev_kind = kind;
	}
}

typedef struct NameWord
{
	const char *word;
	const char *category;
	float		confidence;
	int			flags;
} NameWord;

#define V GDPR_SIG_VERIFIABLE
#define G GDPR_SIG_GENERIC
#define A GDPR_SIG_ADDRPART
#define D GDPR_SIG_DOB
#define T GDPR_SIG_ANYTYPE

/* whole words (single tokens or adjacent tokens joined) */
static const NameWord name_words[] = {
	/* names */
	{"firstname", "name", 0.75, 0}, {"lastname", "name", 0.75, 0},
	{"givenname", "name", 0.75, 0}, {"familyname", "name", 0.75, 0},
	{"surname", "name", 0.75, 0}, {"fullname", "name", 0.75, 0},
	{"middlename", "name", 0.7, 0}, {"maidenname", "name", 0.75, 0},
	{"forename", "name", 0.75, 0}, {"nickname", "name", 0.6, 0},
	{"displayname", "name", 0.55, 0}, {"contactname", "name", 0.7, 0},
	{"voornaam", "name", 0.75, 0}, {"achternaam", "name", 0.75, 0},
	{"voornamen", "name", 0.75, 0}, {"tussenvoegsel", "name", 0.7, 0},
	{"voorletters", "name", 0.7, 0}, {"initialen", "name", 0.6, 0},
	{"roepnaam", "name", 0.75, 0}, {"geboortenaam", "name", 0.75, 0},
	{"meisjesnaam", "name", 0.75, 0}, {"familienaam", "name", 0.75, 0},
	{"vorname", "name", 0.75, 0}, {"nachname", "name", 0.75, 0},
	{"familienname", "name", 0.75, 0}, {"geburtsname", "name", 0.75, 0},
	{"prenom", "name", 0.75, 0}, {"nomdefamille", "name", 0.75, 0},
	{"name", "name", 0.7, G}, {"naam", "name", 0.7, G},
	{"nom", "name", 0.7, G}, {"namen", "name", 0.7, G},
	/* e-mail */
	{"email", "contact.email", 0.75, V}, {"emailaddress", "contact.email", 0.75, V},
	{"emailadres", "contact.email", 0.75, V}, {"emailadresse", "contact.email", 0.75, V},
	{"mailadres", "contact.email", 0.75, V}, {"mail", "contact.email", 0.5, V},
	{"courriel", "contact.email", 0.75, V}, {"mel", "contact.email", 0.4, V},
	/* phone */
	{"phone", "contact.phone", 0.75, V}, {"telephone", "contact.phone", 0.75, V},
	{"phonenumber", "contact.phone", 0.75, V}, {"tel", "contact.phone", 0.6, V},
	{"telnr", "contact.phone", 0.7, V}, {"telefoon", "contact.phone", 0.75, V},
	{"telefoonnummer", "contact.phone", 0.75, V}, {"mobiel", "contact.phone", 0.7, V},
	{"mobile", "contact.phone", 0.7, V}, {"mobilephone", "contact.phone", 0.75, V},
	{"cell", "contact.phone", 0.6, V}, {"cellphone", "contact.phone", 0.75, V},
	{"gsm", "contact.phone", 0.7, V}, {"fax", "contact.phone", 0.7, V},
	{"telefax", "contact.phone", 0.7, V}, {"faxnummer", "contact.phone", 0.7, V},
	{"handy", "contact.phone", 0.6, V}, {"telefon", "contact.phone", 0.75, V},
	{"telefonnummer", "contact.phone", 0.75, V}, {"mobilnummer", "contact.phone", 0.75, V},
	{"portable", "contact.phone", 0.5, V}, {"extension", "contact.phone", 0.6, G},
	{"toestel", "contact.phone", 0.6, G},
	/* address */
	{"address", "contact.address", 0.7, 0}, {"adres", "contact.address", 0.7, 0},
	{"adresse", "contact.address", 0.7, 0}, {"anschrift", "contact.address", 0.7, 0},
	{"street", "contact.address", 0.7, 0}, {"straat", "contact.address", 0.7, 0},
	{"strasse", "contact.address", 0.7, 0}, {"rue", "contact.address", 0.6, 0},
	{"streetaddress", "contact.address", 0.75, 0}, {"addressline", "contact.address", 0.75, 0},
	{"huisnummer", "contact.address", 0.7, 0}, {"housenumber", "contact.address", 0.7, 0},
	{"hausnummer", "contact.address", 0.7, 0}, {"huisnr", "contact.address", 0.7, 0},
	{"toevoeging", "contact.address", 0.4, A},
	{"postcode", "contact.address", 0.7, 0}, {"postalcode", "contact.address", 0.7, 0},
	{"zipcode", "contact.address", 0.7, 0}, {"zip", "contact.address", 0.6, 0},
	{"plz", "contact.address", 0.7, 0}, {"postleitzahl", "contact.address", 0.7, 0},
	{"codepostal", "contact.address", 0.7, 0},
	{"woonplaats", "contact.address", 0.7, 0}, {"wohnort", "contact.address", 0.7, 0},
	{"city", "contact.address", 0.65, 0}, {"ville", "contact.address", 0.65, 0},
	{"town", "contact.address", 0.6, 0}, {"stad", "contact.address", 0.4, A},
	{"plaats", "contact.address", 0.4, A}, {"ort", "contact.address", 0.4, A},
	{"state", "contact.address", 0.35, A}, {"region", "contact.address", 0.35, A},
	{"province", "contact.address", 0.35, A}, {"provincie", "contact.address", 0.35, A},
	{"county", "contact.address", 0.35, A}, {"country", "contact.address", 0.35, A},
	{"land", "contact.address", 0.35, A}, {"pays", "contact.address", 0.35, A},
	{"bundesland", "contact.address", 0.35, A}, {"kanton", "contact.address", 0.35, A},
	/* government identifiers */
	{"bsn", "identifier.government", 0.8, V},
	{"burgerservicenummer", "identifier.government", 0.8, V},
	{"sofinummer", "identifier.government", 0.8, V},
	{"ssn", "identifier.government", 0.75, 0},
	{"socialsecurity", "identifier.government", 0.75, 0},
	{"socialsecuritynumber", "identifier.government", 0.8, 0},
	{"nationalid", "identifier.government", 0.75, 0},
	{"passport", "identifier.government", 0.75, 0},
	{"paspoort", "identifier.government", 0.75, 0},
	{"paspoortnummer", "identifier.government", 0.8, 0},
	{"reisepass", "identifier.government", 0.75, 0},
	{"personalausweis", "identifier.government", 0.75, 0},
	{"rijbewijs", "identifier.government", 0.7, 0},
	{"driverslicense", "identifier.government", 0.7, 0},
	{"taxid", "identifier.government", 0.7, 0},
	{"steuerid", "identifier.government", 0.7, 0},
	/* online identifiers */
	{"ip", "identifier.online", 0.6, V}, {"ipaddress", "identifier.online", 0.7, V},
	{"ipadres", "identifier.online", 0.7, V}, {"ipaddr", "identifier.online", 0.7, V},
	{"remoteaddr", "identifier.online", 0.7, V}, {"clientaddr", "identifier.online", 0.7, V}, {"username", "identifier.online", 0.6, 0},
	{"login", "identifier.online", 0.5, 0}, {"useragent", "identifier.online", 0.5, 0},
	{"deviceid", "identifier.online", 0.5, 0}, {"cookie", "identifier.online", 0.5, 0},
	/* financial */
	{"iban", "financial", 0.8, V}, {"rekeningnummer", "financial", 0.75, V},
	{"bankrekening", "financial", 0.75, V}, {"bankaccount", "financial", 0.75, V},
	{"accountnumber", "financial", 0.6, 0}, {"kontonummer", "financial", 0.75, V},
	{"creditcard", "financial", 0.8, V}, {"cardnumber", "financial", 0.75, V},
	{"kaartnummer", "financial", 0.7, V}, {"salary", "financial", 0.7, T},
	{"salaris", "financial", 0.7, T}, {"gehalt", "financial", 0.7, T},
	{"income", "financial", 0.6, T}, {"inkomen", "financial", 0.6, T},
	/* demographic */
	{"birthdate", "demographic", 0.75, D}, {"dateofbirth", "demographic", 0.8, D},
	{"dob", "demographic", 0.7, D}, {"birthday", "demographic", 0.75, D},
	{"geboortedatum", "demographic", 0.8, D}, {"geburtsdatum", "demographic", 0.8, D},
	{"geburtstag", "demographic", 0.75, D}, {"datedenaissance", "demographic", 0.8, D},
	{"datenaissance", "demographic", 0.8, D}, {"naissance", "demographic", 0.7, D},
	{"verjaardag", "demographic", 0.7, D},
	{"birthplace", "demographic", 0.7, 0}, {"geboorteplaats", "demographic", 0.7, 0},
	{"geburtsort", "demographic", 0.7, 0}, {"lieudenaissance", "demographic", 0.7, 0},
	{"gender", "demographic", 0.7, T}, {"geslacht", "demographic", 0.7, T},
	{"geschlecht", "demographic", 0.7, T}, {"sexe", "demographic", 0.7, T},
	{"sex", "demographic", 0.6, T}, {"age", "demographic", 0.5, T},
	{"leeftijd", "demographic", 0.6, T}, {"nationality", "demographic", 0.7, 0},
	{"nationaliteit", "demographic", 0.7, 0}, {"nationalitat", "demographic", 0.7, 0},
	{"nationalite", "demographic", 0.7, 0}, {"maritalstatus", "demographic", 0.7, 0},
	{"burgerlijkestaat", "demographic", 0.7, 0}, {"familienstand", "demographic", 0.7, 0},
	{"titleofcourtesy", "demographic", 0.65, 0}, {"courtesy", "demographic", 0.6, 0},
	{"salutation", "demographic", 0.6, 0}, {"aanhef", "demographic", 0.6, 0},
	{"anrede", "demographic", 0.6, 0}, {"civilite", "demographic", 0.6, 0},
	/* special categories (Art. 9) */
	{"health", "special.health", 0.6, T}, {"medical", "special.health", 0.6, T},
	{"diagnosis", "special.health", 0.7, T}, {"diagnose", "special.health", 0.7, T},
	{"medication", "special.health", 0.7, T}, {"medicatie", "special.health", 0.7, T},
	{"allergy", "special.health", 0.6, T}, {"allergie", "special.health", 0.6, T},
	{"bloodtype", "special.health", 0.7, T}, {"bloedgroep", "special.health", 0.7, T},
	{"disability", "special.health", 0.6, T}, {"handicap", "special.health", 0.6, T},
	{"religion", "special.other", 0.7, T}, {"religie", "special.other", 0.7, T},
	{"geloof", "special.other", 0.6, T}, {"ethnicity", "special.other", 0.7, T},
	{"etniciteit", "special.other", 0.7, T}, {"race", "special.other", 0.5, T},
	{"sexualorientation", "special.other", 0.75, T},
	{"politicalparty", "special.other", 0.7, T},
	{"fingerprint", "special.other", 0.7, T}, {"vingerafdruk", "special.other", 0.7, T},
	/* location */
	{"latitude", "location", 0.55, T}, {"longitude", "location", 0.55, T},
	{"geolocation", "location", 0.6, T}, {"gps", "location", 0.55, T},
	{"coordinates", "location", 0.5, T},
	/* about a person only in a person's table or with a qualifier */
	{"title", "other", 0.6, G}, {"jobtitle", "other", 0.65, 0},
	{"notes", "other", 0.6, G | T}, {"note", "other", 0.6, G | T},
	{"remarks", "other", 0.6, G | T}, {"comments", "other", 0.6, G | T},
	{"opmerking", "other", 0.6, G | T}, {"opmerkingen", "other", 0.6, G | T},
	{"notities", "other", 0.6, G | T}, {"bemerkungen", "other", 0.6, G | T},
	{"photo", "other", 0.6, G | T}, {"foto", "other", 0.6, G | T},
	{"picture", "other", 0.6, G | T}, {"avatar", "other", 0.6, G | T},
	{"company", "other", 0.3, 0}, {"bedrijf", "other", 0.3, 0},
};

#undef V
#undef G
#undef A
#undef D
#undef T

/* words of a column name that say it is about the thing, not the thing */
static const char *const negators[] = {
	"template", "tpl", "format", "type", "types", "status", "verified",
	"verification", "valid", "validated", "count", "counter", "enabled",
	"flag", "sent", "optin", "optout", "subject", "body", "pattern", "regex",
	"mask", "prefix", "suffix", "length", "len", "id", "config", "setting",
	"settings", "label", "domain", "provider", "category", NULL
};

/* qualifiers that make a generic word ("name", "title") personal */
static const char *const person_qualifiers[] = {
	"first", "last", "given", "family", "full", "middle", "maiden", "sur",
	"contact", "customer", "client", "klant", "employee", "person", "user",
	"member", "patient", "ship", "shipping", "billing", "recipient",
	"account", "holder", "owner", "sender", "buyer", "card", "emergency",
	"parent", "partner", "spouse", "guardian", "ouder", "student", "op",
	"on", "job", "display", "home", "private", "prive", "personal",
	"medewerker", "gebruiker", "kunde", "kunden", "mitarbeiter", NULL
};

/* qualifiers that make an address part ("state", "country") an address */
static const char *const address_qualifiers[] = {
	"billing", "shipping", "ship", "home", "delivery", "bezorg", "woon",
	"post", "postal", "mailing", "invoice", "factuur", "residence",
	"residential", "lever", "street", NULL
};

/* table words denoting persons; plural forms are folded by the caller */
static const char *const person_words[] = {
	"customer", "client", "klant", "employee", "medewerker", "werknemer",
	"personeel", "person", "people", "persoon", "user", "gebruiker",
	"member", "lid", "leden", "patient", "student", "contact",
	"contactpersoon", "kunde", "mitarbeiter", "benutzer", "personne",
	"utilisateur", "salarie", "employe", "subscriber", "abonnee", "relatie",
	"staff", "guest", "gast", "applicant", "sollicitant", "candidate",
	"kandidaat", "debiteur", "debtor", "leerling", "burger", "citizen",
	"kunden", NULL
};

static bool
in_list(const char *w, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(w, *list) == 0)
			return true;
	return false;
}

static const NameWord *
lookup_word(const char *w)
{
	int			i;

	for (i = 0; i < (int) lengthof(name_words); i++)
		if (strcmp(w, name_words[i].word) == 0)
			return &name_words[i];
	return NULL;
}

/* w without a plural ending: customers -> customer, klanten -> klant */
static void
singular(const char *w, char *out, size_t outlen)
{
	size_t		n = strlen(w);

	copy_str(out, w, outlen);
	if (n > 4 && strcmp(w + n - 2, "en") == 0)
		out[n - 2] = '\0';
	else if (n > 3 && w[n - 1] == 's' && w[n - 2] != 's')
		out[n - 1] = '\0';
}

bool
gdpr_is_person_table(const char *relname)
{
	Tokens		t;
	int			i;

	tokenize(relname, &t);
	for (i = 0; i < t.n; i++)
	{
		char		s[MAX_TOKLEN];

		if (in_list(t.tok[i], person_words))
			return true;
		singular(t.tok[i], s, sizeof(s));
		if (in_list(s, person_words))
			return true;
	}
	return false;
}

/* compound words: "factuuradres", "telefoonnummer", "klantnaam" */
typedef struct Compound
{
	const char *part;			/* the part */
	bool		suffix;			/* must end the token (else: anywhere) */
	const char *word;			/* the dictionary word it stands for */
} Compound;

static const Compound compounds[] = {
	{"email", false, "email"}, {"mailadres", false, "email"},
	{"telefoon", false, "telefoon"}, {"telefon", false, "telefon"},
	{"phone", true, "phone"}, {"mobiel", false, "mobiel"},
	{"geboortedatum", false, "geboortedatum"}, {"geburtsdatum", false, "geburtsdatum"},
	{"birthdate", false, "birthdate"},
	{"adres", true, "adres"}, {"adresse", true, "adresse"},
	{"address", true, "address"}, {"straat", true, "straat"},
	{"strasse", true, "strasse"}, {"street", true, "street"},
	{"postcode", true, "postcode"}, {"huisnummer", true, "huisnummer"},
	{"woonplaats", true, "woonplaats"}, {"rekeningnummer", true, "rekeningnummer"},
	{"iban", true, "iban"},
	{NULL, false, NULL}
};

/* generic-word suffixes split off a compound: klantnaam -> klant + naam */
static const char *const generic_suffixes[] = {"naam", "name", NULL};

void
gdpr_name_signal(const char *colname, const char *relname, GdprNameSignal *sig)
{
	Tokens		t;
	int			i,
				j,
				k;
	bool		negated = false,
				person_q = false,
				address_q = false;
	const NameWord *best = NULL;
	int			best_tok = -1;
	int			best_span = 0;
	char		joined[3 * MAX_TOKLEN];

	sig->category = NULL;
	sig->confidence = 0;
	sig->flags = 0;
	sig->rule = NULL;

	tokenize(colname, &t);

	/* split generic suffixes off compounds not in the dictionary */
	for (i = 0; i < t.n && t.n < MAX_TOKENS; i++)
	{
		size_t		n = strlen(t.tok[i]);
		const char *const *g;

		if (lookup_word(t.tok[i]))
			continue;
		for (g = generic_suffixes; *g; g++)
		{
			size_t		gl = strlen(*g);

			if (n > gl + 1 && strcmp(t.tok[i] + n - gl, *g) == 0)
			{
				memmove(t.tok[i + 2], t.tok[i + 1], sizeof(t.tok[0]) * (t.n - i - 1));
				copy_str(t.tok[i + 1], *g, MAX_TOKLEN);
				t.tok[i][n - gl] = '\0';
				t.n++;
				break;
			}
		}
	}

	for (i = 0; i < t.n; i++)
	{
		if (in_list(t.tok[i], negators))
			negated = true;
		if (in_list(t.tok[i], person_qualifiers))
			person_q = true;
		if (in_list(t.tok[i], address_qualifiers))
			address_q = true;
	}

	/* longest match first: triples, pairs, single tokens, compounds */
	for (k = 3; k >= 1 && !best; k--)
	{
		for (i = 0; i + k <= t.n; i++)
		{
			const NameWord *w;

			joined[0] = '\0';
			for (j = i; j < i + k; j++)
				cat_str(joined, t.tok[j], sizeof(joined));
			w = lookup_word(joined);
			if (w && (!best || w->confidence > best->confidence))
			{
				best = w;
				best_tok = i;
				best_span = k;
			}
		}
	}
	if (!best)
	{
		for (i = 0; i < t.n && !best; i++)
		{
			const Compound *c;
			size_t		n = strlen(t.tok[i]);

			for (c = compounds; c->part && !best; c++)
			{
				size_t		pl = strlen(c->part);

				if (n <= pl)
					continue;
				if (c->suffix ? strcmp(t.tok[i] + n - pl, c->part) == 0
					: strstr(t.tok[i], c->part) != NULL)
				{
					best = lookup_word(c->word);
					best_tok = i;
					best_span = 1;
				}
			}
		}
	}
	if (!best)
		return;

	sig->category = best->category;
	sig->confidence = best->confidence;
	sig->flags = best->flags;
	sig->rule = best->word;

	/* a person qualifier other than the matched word itself */
	if (person_q)
	{
		person_q = false;
		for (i = 0; i < t.n; i++)
			if ((i < best_tok || i >= best_tok + best_span) &&
				in_list(t.tok[i], person_qualifiers))
				person_q = true;
	}
	if (gdpr_is_person_table(relname))
		sig->flags |= GDPR_SIG_PERSONTAB;

	if (best->flags & GDPR_SIG_GENERIC)
	{
		if (person_q)
			sig->flags |= GDPR_SIG_QUALIFIED;
		else if ((sig->flags & GDPR_SIG_PERSONTAB) &&
				 (t.n == best_span || (best->flags & GDPR_SIG_ANYTYPE)))
			sig->confidence = best->confidence - 0.05;
		else if (t.n == best_span)
			sig->confidence = best->confidence * 0.3;
		else
			sig->confidence = best->confidence * 0.15;	/* product_name */
	}
	if (best->flags & GDPR_SIG_ADDRPART)
	{
		if (address_q)
		{
			sig->flags |= GDPR_SIG_QUALIFIED;
			sig->confidence = 0.6;
		}
	}
	if (negated)
	{
		sig->flags |= GDPR_SIG_NEGATED;
		sig->confidence *= 0.3;
	}
}
