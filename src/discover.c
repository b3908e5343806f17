/*-------------------------------------------------------------------------
 *
 * discover.c
 *	  gdpr.discover(): find personal data nobody tagged (API section 10).
 *
 * Every user table is sampled with one query (TABLESAMPLE for big tables,
 * all rows of small ones, LIMIT sample_rows).  The query aggregates in C:
 * gdpr._detect_counts(text) runs the validating detectors of detectors.c
 * over each text-like value and returns per-detector match counts, so no
 * value leaves the executor and nothing runs per row in SPI.  The counts
 * and the column-name signals combine into a category, a confidence and
 * the evidence (never the values).
 *
 * discover runs with the caller's privileges: tables and columns the
 * caller cannot read are skipped with a notice.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "detectors.h"
#include "gdpr.h"

PG_FUNCTION_INFO_V1(gdpr_detect);
PG_FUNCTION_INFO_V1(gdpr_detect_counts_accum);
PG_FUNCTION_INFO_V1(gdpr_name_signal_sql);
PG_FUNCTION_INFO_V1(gdpr_discover);

/* default report threshold of gdpr.discover() */
#define DISCOVER_MIN_CONFIDENCE 0.5
/* at least this many sampled values before contents can contradict a name */
#define CONTRADICT_MIN_VALUES 5

void
gdpr_discover_init(void)
{
}

/* ---------------------------------------------------------------- dates */

/* 1900-01-01 .. today minus 14 years, as Julian days */
static void
dob_range(int *lo, int *hi)
{
	DateADT		today = GetSQLCurrentDate();
	int			y,
				m,
				d;

	j2date(today + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	y -= 14;
	if (m == 2 && d == 29)
		d = 28;
	*lo = date2j(1900, 1, 1);
	*hi = date2j(y, m, d);
}

/* a strict ISO date YYYY-MM-DD inside the plausible range of birth dates */
static bool
detect_date_of_birth(const char *s, size_t len)
{
	int			y,
				m,
				d,
				ry,
				rm,
				rd,
				j,
				lo,
				hi;
	size_t		i;

	if (len != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !(s[i] >= '0' && s[i] <= '9'))
			return false;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (m < 1 || m > 12 || d < 1 || d > 31)
		return false;
	j = date2j(y, m, d);
	j2date(j, &ry, &rm, &rd);
	if (ry != y || rm != m || rd != d)
		return false;			/* 2001-02-29 */
	dob_range(&lo, &hi);
	return j >= lo && j <= hi;
}

/* ---------------------------------------------------------------- _detect */

typedef bool (*DetectorFn) (const char *s, size_t len);

typedef struct NamedDetector
{
	const char *name;
	DetectorFn	fn;
} NamedDetector;

static const NamedDetector named_detectors[] = {
	{"email", gdpr_is_email},
	{"phone", gdpr_is_phone},
	{"phone_loose", gdpr_is_phone_loose},
	{"iban", gdpr_is_iban},
	{"bsn", gdpr_is_bsn},
	{"card", gdpr_is_card},
	{"ipv4", gdpr_is_ipv4},
	{"ipv6", gdpr_is_ipv6},
	{"postcode_nl", gdpr_is_postcode_nl},
	{"email_in_text", gdpr_text_has_email},
	{"phone_in_text", gdpr_text_has_phone},
	{"iban_in_text", gdpr_text_has_iban},
	{"date_of_birth", detect_date_of_birth},
};

/*
 * gdpr._detect(detector text, value text) RETURNS boolean: one detector on
 * one value, for tests.  Strict.
 */
Datum
gdpr_detect(PG_FUNCTION_ARGS)
{
	char	   *detector = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *value = PG_GETARG_TEXT_PP(1);
	int			i;
	StringInfoData names;

	for (i = 0; i < (int) lengthof(named_detectors); i++)
	{
		if (strcmp(detector, named_detectors[i].name) == 0)
			PG_RETURN_BOOL(named_detectors[i].fn(VARDATA_ANY(value),
												 VARSIZE_ANY_EXHDR(value)));
	}
	initStringInfo(&names);
	for (i = 0; i < (int) lengthof(named_detectors); i++)
		appendStringInfo(&names, "%s%s", i ? ", " : "", named_detectors[i].name);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown detector \"%s\"", detector),
			 errhint("Detectors are: %s.", names.data)));
	PG_RETURN_NULL();
}

/* ---------------------------------------------------------------- aggregate */

/*
 * Transition function of gdpr._detect_counts(text) (state int8[], one slot
 * per GdprDetector, initcond all zeros; strict, so NULLs are skipped).
 * Updates the state in place when called as an aggregate.
 */
Datum
gdpr_detect_counts_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state;
	int64	   *counts;
	Datum		vdatum;
	text	   *value;
	uint32		mask;
	int			d;

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("gdpr._detect_counts_accum() can only be called as an aggregate transition function"),
				 errhint("Use the aggregate gdpr._detect_counts(text).")));
	state = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_NDIM(state) != 1 || ARR_DIMS(state)[0] != GDPR_DET_NSLOTS ||
		ARR_HASNULL(state) || ARR_ELEMTYPE(state) != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid state of gdpr._detect_counts"),
				 errdetail("The state must be an int8 array of %d elements without NULLs.",
						   GDPR_DET_NSLOTS)));
	counts = (int64 *) ARR_DATA_PTR(state);

	/* values longer than the scan limit: read (and decompress) a prefix */
	vdatum = PG_GETARG_DATUM(1);
	if (VARATT_IS_EXTENDED(DatumGetPointer(vdatum)) &&
		toast_raw_datum_size(vdatum) > GDPR_DETECT_MAX_SCAN + VARHDRSZ)
		value = DatumGetTextPSlice(vdatum, 0, GDPR_DETECT_MAX_SCAN);
	else
		value = DatumGetTextPP(vdatum);

	mask = gdpr_detect_value(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
	counts[GDPR_DET_NONNULL]++;
	for (d = 1; mask != 0 && d < GDPR_DET_NSLOTS; d++)
		if (mask & (1u << d))
			counts[d]++;
	PG_RETURN_ARRAYTYPE_P(state);
}

/* ---------------------------------------------------------------- names */

static const char *
signal_flags_text(int flags)
{
	static char buf[128];

	buf[0] = '\0';
	if (flags & GDPR_SIG_GENERIC)
		strlcat(buf, " generic", sizeof(buf));
	if (flags & GDPR_SIG_ADDRPART)
		strlcat(buf, " address-part", sizeof(buf));
	if (flags & GDPR_SIG_QUALIFIED)
		strlcat(buf, " qualified", sizeof(buf));
	if (flags & GDPR_SIG_PERSONTAB)
		strlcat(buf, " person-table", sizeof(buf));
	if (flags & GDPR_SIG_NEGATED)
		strlcat(buf, " negated", sizeof(buf));
	if (flags & GDPR_SIG_DOB)
		strlcat(buf, " date-of-birth", sizeof(buf));
	return buf;
}

/*
 * gdpr._name_signal(column_name text, relation_name text) RETURNS text:
 * "category confidence word [flags]" or NULL, for tests.
 */
Datum
gdpr_name_signal_sql(PG_FUNCTION_ARGS)
{
	char	   *col = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *rel = text_to_cstring(PG_GETARG_TEXT_PP(1));
	GdprNameSignal sig;

	gdpr_name_signal(col, rel, &sig);
	if (sig.category == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%s %.2f %s%s", sig.category,
											  sig.confidence, sig.rule,
											  signal_flags_text(sig.flags))));
}

/* ---------------------------------------------------------------- discover */

typedef enum ColKind
{
	COL_TEXT,					/* text-like: all detectors */
	COL_NUMBER,					/* integers and numeric: as text */
	COL_INET,					/* inet: host() */
	COL_DATE,					/* date/timestamp: date of birth */
	COL_OTHER					/* name signals only (photo bytea) */
} ColKind;

typedef struct DiscColumn
{
	AttrNumber	attnum;
	char	   *attname;
	ColKind		kind;
	bool		readable;
	bool		sampled;		/* in the sample query */
	int			agg_index;		/* first result column of its aggregates */
	GdprNameSignal sig;
	/* tag, when already tagged */
	bool		tagged;
	char	   *tag_category;
	char	   *tag_purposes;
	/* sample results */
	int64		counts[GDPR_DET_NSLOTS];
	int64		dob_values;
	int64		dob_in_range;
} DiscColumn;

typedef struct DiscTable
{
	Oid			relid;
	char	   *nspname;
	char	   *relname;
	char		relkind;
	double		reltuples;
	int32		relpages;
	int			ncols;
	DiscColumn *cols;
} DiscTable;

/* strength of a detector's evidence and the share it needs */
typedef struct DetectorWeight
{
	GdprDetector det;
	double		strength;
	double		min_share;
	double		full_share;		/* share at which the strength is reached */
} DetectorWeight;

static const DetectorWeight detector_weights[] = {
	{GDPR_DET_EMAIL, 0.95, 0.10, 0.5},
	{GDPR_DET_IBAN, 0.95, 0.10, 0.5},
	{GDPR_DET_IPV6, 0.95, 0.10, 0.5},
	{GDPR_DET_CARD, 0.90, 0.10, 0.5},
	/* version numbers (1.2.3.4) are IPv4 addresses too: alone, not enough */
	{GDPR_DET_IPV4, 0.45, 0.10, 0.5},
	{GDPR_DET_PHONE, 0.85, 0.10, 0.5},
	{GDPR_DET_BSN, 0.85, 0.30, 0.6},	/* 1 in 11 random numbers pass */
	{GDPR_DET_POSTCODE_NL, 0.80, 0.20, 0.6},
	{GDPR_DET_EMAIL_TEXT, 0.80, 0.05, 0.25},
	{GDPR_DET_IBAN_TEXT, 0.80, 0.05, 0.25},
	{GDPR_DET_PHONE_TEXT, 0.75, 0.05, 0.25},
	{GDPR_DET_PHONE_LOOSE, 0.60, 0.20, 0.6},
};

static ColKind
column_kind(Oid typid)
{
	Oid			base = getBaseType(typid);

	switch (base)
	{
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return COL_TEXT;
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
			return COL_NUMBER;
		case INETOID:
			return COL_INET;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return COL_DATE;
		default:
			{
				HeapTuple	tp = SearchSysCache1(TYPEOID, ObjectIdGetDatum(base));
				bool		is_citext = false;

				/* citext, without a build dependency on it */
				if (HeapTupleIsValid(tp))
				{
					is_citext = strcmp(NameStr(((Form_pg_type) GETSTRUCT(tp))->typname),
									   "citext") == 0;
					ReleaseSysCache(tp);
				}
				return is_citext ? COL_TEXT : COL_OTHER;
			}
	}
}

/* does a name signal apply to a column of this kind? */
static bool
signal_applies(const GdprNameSignal *sig, ColKind kind)
{
	if (sig->category == NULL)
		return false;
	switch (kind)
	{
		case COL_TEXT:
			return true;
		case COL_NUMBER:
			return (sig->flags & (GDPR_SIG_VERIFIABLE | GDPR_SIG_ANYTYPE)) != 0;
		case COL_INET:
			return strcmp(sig->category, "identifier.online") == 0;
		case COL_DATE:
			return (sig->flags & GDPR_SIG_DOB) != 0;
		case COL_OTHER:
			return (sig->flags & GDPR_SIG_ANYTYPE) != 0;
	}
	return false;
}

/* the detectors whose matches confirm a verifiable category */
static int64
category_matches(const DiscColumn *c, const char *category)
{
	const int64 *n = c->counts;

	if (strcmp(category, "contact.email") == 0)
		return n[GDPR_DET_EMAIL] + n[GDPR_DET_EMAIL_TEXT];
	if (strcmp(category, "contact.phone") == 0)
		return n[GDPR_DET_PHONE_LOOSE] + n[GDPR_DET_PHONE_TEXT];
	if (strcmp(category, "financial") == 0)
		return n[GDPR_DET_IBAN] + n[GDPR_DET_IBAN_TEXT] + n[GDPR_DET_CARD];
	if (strcmp(category, "identifier.government") == 0)
		return n[GDPR_DET_BSN];
	if (strcmp(category, "identifier.online") == 0)
		return n[GDPR_DET_IPV4] + n[GDPR_DET_IPV6];
	return -1;					/* nothing to verify with */
}

static double
combine(double a, double b)
{
	return 1.0 - (1.0 - a) * (1.0 - b);
}

static const char *
pct(int64 part, int64 whole)
{
	return psprintf("%d%%", whole > 0 ? (int) floor(100.0 * part / whole + 0.5) : 0);
}

/* build and run the one sample query of a table; fill the counts */
static void
sample_table(DiscTable *t, int32 sample_rows)
{
	StringInfoData inner,
				outer;
	const char *qualified = quote_qualified_identifier(t->nspname, t->relname);
	int			i,
				ncol = 1,
				ret;
	bool		any = false;
	HeapTuple	tup;
	TupleDesc	desc;

	initStringInfo(&inner);
	initStringInfo(&outer);
	appendStringInfoString(&outer, "SELECT count(*)::int8");
	for (i = 0; i < t->ncols; i++)
	{
		DiscColumn *c = &t->cols[i];
		const char *q = quote_identifier(c->attname);

		if (!c->readable)
			continue;
		switch (c->kind)
		{
			case COL_TEXT:
			case COL_NUMBER:
				appendStringInfo(&outer, ", gdpr._detect_counts(s.%s::pg_catalog.text)", q);
				break;
			case COL_INET:
				appendStringInfo(&outer, ", gdpr._detect_counts(pg_catalog.host(s.%s))", q);
				break;
			case COL_DATE:
				if (!(c->sig.category && (c->sig.flags & GDPR_SIG_DOB)))
					continue;
				appendStringInfo(&outer,
								 ", count(s.%s)::int8, (count(*) FILTER (WHERE s.%s::pg_catalog.date"
								 " BETWEEN DATE '1900-01-01' AND"
								 " (CURRENT_DATE - interval '14 years')::pg_catalog.date))::int8",
								 q, q);
				break;
			case COL_OTHER:
				continue;
		}
		appendStringInfo(&inner, "%s%s", any ? ", " : "", q);
		any = true;
		c->sampled = true;
		c->agg_index = ncol + 1;	/* SPI attribute numbers start at 1 */
		ncol += (c->kind == COL_DATE) ? 2 : 1;
	}
	if (!any)
		return;

	appendStringInfo(&outer, " FROM (SELECT %s FROM %s%s", inner.data,
					 t->relkind == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
					 qualified);
	if (t->reltuples > 2.0 * sample_rows)
	{
		double		percent = Min(100.0, 150.0 * sample_rows / t->reltuples);

		/* block sampling for big tables, row sampling below 10 MB */
		appendStringInfo(&outer, " TABLESAMPLE %s (%.6f)",
						 t->relpages > 1280 ? "SYSTEM" : "BERNOULLI", percent);
	}
	appendStringInfo(&outer, " LIMIT %d) s", sample_rows);

	ret = SPI_execute(outer.data, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("gdpr.discover: sample query of %s failed", qualified)));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	for (i = 0; i < t->ncols; i++)
	{
		DiscColumn *c = &t->cols[i];
		bool		isnull;
		Datum		v;

		if (!c->sampled)
			continue;
		v = SPI_getbinval(tup, desc, c->agg_index, &isnull);
		if (c->kind == COL_DATE)
		{
			c->dob_values = isnull ? 0 : DatumGetInt64(v);
			v = SPI_getbinval(tup, desc, c->agg_index + 1, &isnull);
			c->dob_in_range = isnull ? 0 : DatumGetInt64(v);
		}
		else if (!isnull)
		{
			ArrayType  *a = DatumGetArrayTypeP(v);

			if (ARR_NDIM(a) == 1 && ARR_DIMS(a)[0] == GDPR_DET_NSLOTS && !ARR_HASNULL(a))
				memcpy(c->counts, ARR_DATA_PTR(a), sizeof(c->counts));
		}
	}
}

/* the best content evidence of a column: detector, confidence */
static double
content_evidence(const DiscColumn *c, GdprDetector *best)
{
	int64		nn = c->counts[GDPR_DET_NONNULL];
	double		conf = 0;
	int			i;

	*best = GDPR_DET_NONNULL;
	if (nn <= 0)
		return 0;
	for (i = 0; i < (int) lengthof(detector_weights); i++)
	{
		const DetectorWeight *w = &detector_weights[i];
		int64		matched = c->counts[w->det];
		double		share;
		double		cf;

		/* free text that mentions it, or holds nothing else: both count */
		if (w->det == GDPR_DET_EMAIL_TEXT)
			matched += c->counts[GDPR_DET_EMAIL];
		else if (w->det == GDPR_DET_PHONE_TEXT)
			matched += c->counts[GDPR_DET_PHONE];
		else if (w->det == GDPR_DET_IBAN_TEXT)
			matched += c->counts[GDPR_DET_IBAN];
		share = (double) matched / nn;

		if (share < w->min_share)
			continue;
		cf = w->strength * Min(1.0, share / w->full_share);
		if (cf > conf)
		{
			conf = cf;
			*best = w->det;
		}
	}
	return conf;
}

/* evaluate one column; emit a row when it is (or looks) personal */
static void
evaluate_column(DiscTable *t, DiscColumn *c, bool address_context,
				double min_conf, Tuplestorestate *ts, TupleDesc td)
{
	GdprNameSignal sig = c->sig;
	bool		name_ok = signal_applies(&sig, c->kind);
	double		name_conf = name_ok ? sig.confidence : 0;
	double		content_conf = 0,
				conf;
	GdprDetector det = GDPR_DET_NONNULL;
	const char *category = NULL;
	StringInfoData ev;
	int64		nn = c->counts[GDPR_DET_NONNULL];
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	const char *content_cat = NULL;

	initStringInfo(&ev);

	/* address parts count in a table that has an address */
	if (name_ok && (sig.flags & GDPR_SIG_ADDRPART) &&
		!(sig.flags & GDPR_SIG_QUALIFIED) && address_context)
		name_conf = Max(name_conf, 0.6 * ((sig.flags & GDPR_SIG_NEGATED) ? 0.3 : 1.0));

	if (c->kind == COL_DATE)
	{
		if (name_ok && c->dob_values > 0)
		{
			double		share = (double) c->dob_in_range / c->dob_values;

			if (share >= 0.9)
				content_conf = 0.8 * share;
			else if (share < 0.5 && c->dob_values >= CONTRADICT_MIN_VALUES)
				name_conf *= 0.4;
			appendStringInfo(&ev, "date of birth range: %s of %lld sampled values between 1900-01-01 and today-14y; ",
							 pct(c->dob_in_range, c->dob_values),
							 (long long) c->dob_values);
			if (content_conf > 0)
				content_cat = sig.category;
		}
	}
	else if (c->sampled)
	{
		content_conf = content_evidence(c, &det);
		if (content_conf > 0)
		{
			int64		matched = c->counts[det];

			content_cat = gdpr_detector_category(det);

			if (det == GDPR_DET_EMAIL_TEXT)
				matched += c->counts[GDPR_DET_EMAIL];
			else if (det == GDPR_DET_PHONE_TEXT)
				matched += c->counts[GDPR_DET_PHONE];
			else if (det == GDPR_DET_IBAN_TEXT)
				matched += c->counts[GDPR_DET_IBAN];
			appendStringInfo(&ev, "content: %s matched %s of %lld sampled values",
							 gdpr_detector_names[det],
							 pct(matched, nn), (long long) nn);
			if (matched != c->counts[det])
				appendStringInfo(&ev, " (%s inside text)", pct(c->counts[det], nn));
			if (det == GDPR_DET_PHONE_LOOSE && c->counts[GDPR_DET_PHONE] > 0)
				appendStringInfo(&ev, " (strict phone %s)",
								 pct(c->counts[GDPR_DET_PHONE], nn));
			appendStringInfoString(&ev, "; ");
		}
		if (c->kind == COL_INET && nn > 0)
		{
			/* an inet column holds IP addresses by its type */
			int64		ips = c->counts[GDPR_DET_IPV4] + c->counts[GDPR_DET_IPV6];

			resetStringInfo(&ev);
			content_conf = 0.95 * ips / nn;
			content_cat = content_conf > 0 ? "identifier.online" : NULL;
			appendStringInfo(&ev, "content: inet type, %s of %lld sampled values are host addresses (ipv4 %s, ipv6 %s); ",
							 pct(ips, nn), (long long) nn,
							 pct(c->counts[GDPR_DET_IPV4], nn),
							 pct(c->counts[GDPR_DET_IPV6], nn));
		}
		/* values that contradict the name lower it */
		if (name_ok && (sig.flags & GDPR_SIG_VERIFIABLE) &&
			nn >= CONTRADICT_MIN_VALUES)
		{
			int64		m = category_matches(c, sig.category);

			if (m >= 0 && (double) m / nn < 0.05)
			{
				name_conf *= 0.4;
				appendStringInfo(&ev, "name contradicted: %s of %lld sampled values look like %s; ",
								 pct(m, nn), (long long) nn, sig.category);
			}
		}
	}

	if (name_conf > 0)
		appendStringInfo(&ev, "name: \"%s\" (%s%s%s)", sig.rule, sig.category,
						 signal_flags_text(sig.flags),
						 (sig.flags & (GDPR_SIG_ADDRPART | GDPR_SIG_QUALIFIED)) == GDPR_SIG_ADDRPART &&
						 address_context ? " table-has-address" : "");
	else if (ev.len >= 2)
		ev.data[ev.len -= 2] = '\0';	/* drop the trailing "; " */

	/* combine */
	if (content_cat && name_conf > 0 && strcmp(content_cat, sig.category) == 0)
	{
		conf = combine(content_conf, name_conf);
		category = content_cat;
	}
	else if (content_cat && content_conf >= name_conf)
	{
		conf = content_conf;
		category = content_cat;
	}
	else if (name_conf > 0)
	{
		conf = name_conf;
		category = sig.category;
	}
	else
		return;

	if (conf < min_conf)
		return;

	values[0] = ObjectIdGetDatum(t->relid);
	{
		NameData   *n = (NameData *) palloc0(NAMEDATALEN);

		namestrcpy(n, c->attname);
		values[1] = NameGetDatum(n);
	}
	if (c->tagged)
	{
		values[2] = CStringGetTextDatum(psprintf("tagged:%s",
												 c->tag_category ? c->tag_category : category));
		ev.data = psprintf("already tagged (purposes %s%s%s); %s",
						   c->tag_purposes ? c->tag_purposes : "{}",
						   c->tag_category ? "" : ", no category; detected ",
						   c->tag_category ? "" : category, ev.data);
	}
	else
		values[2] = CStringGetTextDatum(category);
	values[3] = Float4GetDatum((float4) (floor(Min(conf, 1.0) * 100 + 0.5) / 100));
	values[4] = CStringGetTextDatum(ev.data);
	tuplestore_putvalues(ts, td, values, nulls);
}

/* copy a SPI text result into the current context (or NULL) */
static char *
spi_text(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	return v ? pstrdup(v) : NULL;
}

/*
 * gdpr.discover(sample_rows int DEFAULT 1000, min_confidence real DEFAULT 0.5)
 *   RETURNS TABLE(relation regclass, column_name name, category text,
 *                 confidence real, evidence text)
 */
Datum
gdpr_discover(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		sample_rows;
	double		min_conf;
	Oid			userid = GetUserId();
	bool		have_tags;
	List	   *tables = NIL;
	ListCell   *lc;
	DiscTable  *cur = NULL;
	uint64		i;
	int			ret;
	MemoryContext work;
	MemoryContext old;
	int			maxcols = 0;

	GDPR_REQUIRE_ARG(0, "sample_rows");
	sample_rows = PG_GETARG_INT32(0);
	if (sample_rows < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sample_rows must be positive, not %d", sample_rows),
				 errhint("Pass the number of rows to sample per table, e.g. 1000.")));
	min_conf = PG_NARGS() > 1 && !PG_ARGISNULL(1) ? PG_GETARG_FLOAT4(1) : DISCOVER_MIN_CONFIDENCE;
	if (min_conf < 0 || min_conf > 1 || isnan(min_conf))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("min_confidence must be between 0 and 1"),
				 errhint("0.5 (the default) reports what is more likely personal than not.")));
	(void) gdpr_schema_oid(false);

	InitMaterializedSRF(fcinfo, 0);

	/* our data survives SPI_finish: a context under the per-query one */
	work = AllocSetContextCreate(rsinfo->econtext->ecxt_per_query_memory,
								 "gdpr.discover", ALLOCSET_DEFAULT_SIZES);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* every column of every user table, one catalog query */
	ret = SPI_execute("SELECT c.oid, n.nspname, c.relname, c.relkind::text,"
					  " c.reltuples::float8, c.relpages, a.attnum, a.attname, a.atttypid"
					  " FROM pg_catalog.pg_class c"
					  " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
					  " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid"
					  "  AND a.attnum > 0 AND NOT a.attisdropped"
					  " WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition"
					  "  AND c.relpersistence <> 't'"
					  "  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'gdpr')"
					  "  AND n.nspname !~ '^pg_(toast|temp_)'"
					  "  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d"
					  "   WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
					  "   AND d.objid = c.oid AND d.deptype = 'e')"
					  " ORDER BY n.nspname, c.relname, a.attnum",
					  true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "gdpr.discover: catalog query failed");

	old = MemoryContextSwitchTo(work);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		DiscColumn *c;

		if (cur == NULL || cur->relid != relid)
		{
			cur = palloc0(sizeof(DiscTable));
			cur->relid = relid;
			cur->nspname = spi_text(tup, desc, 2);
			cur->relname = spi_text(tup, desc, 3);
			cur->relkind = spi_text(tup, desc, 4)[0];
			cur->reltuples = DatumGetFloat8(SPI_getbinval(tup, desc, 5, &isnull));
			cur->relpages = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
			maxcols = 8;
			cur->cols = palloc0(sizeof(DiscColumn) * maxcols);
			tables = lappend(tables, cur);
		}
		if (cur->ncols >= maxcols)
		{
			maxcols *= 2;
			cur->cols = repalloc(cur->cols, sizeof(DiscColumn) * maxcols);
		}
		c = &cur->cols[cur->ncols++];
		memset(c, 0, sizeof(DiscColumn));
		c->attnum = DatumGetInt16(SPI_getbinval(tup, desc, 7, &isnull));
		c->attname = spi_text(tup, desc, 8);
		c->kind = column_kind(DatumGetObjectId(SPI_getbinval(tup, desc, 9, &isnull)));
		gdpr_name_signal(c->attname, cur->relname, &c->sig);
	}
	MemoryContextSwitchTo(old);

	/* tags, when the labels part of the extension provides them */
	have_tags = OidIsValid(get_relname_relid("column_tags", gdpr_schema_oid(false)));
	if (have_tags && tables != NIL)
	{
		ret = SPI_execute("SELECT relation::pg_catalog.oid, column_name::pg_catalog.text,"
						  " category, purposes::pg_catalog.text FROM gdpr.column_tags",
						  true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "gdpr.discover: reading gdpr.column_tags failed");
		old = MemoryContextSwitchTo(work);
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			Oid			relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
			char	   *col = SPI_getvalue(tup, desc, 2);

			if (isnull || col == NULL)
				continue;
			/* few tags, few tables: a linear search is fine */
			foreach(lc, tables)
			{
				DiscTable  *t = lfirst(lc);
				int			k;

				if (t->relid != relid)
					continue;
				for (k = 0; k < t->ncols; k++)
				{
					if (strcmp(t->cols[k].attname, col) == 0)
					{
						t->cols[k].tagged = true;
						t->cols[k].tag_category = spi_text(tup, desc, 3);
						t->cols[k].tag_purposes = spi_text(tup, desc, 4);
					}
				}
				break;
			}
		}
		MemoryContextSwitchTo(old);
	}

	foreach(lc, tables)
	{
		DiscTable  *t = lfirst(lc);
		int			k,
					readable = 0;
		bool		address_context = false;
		bool		all = pg_class_aclcheck(t->relid, userid, ACL_SELECT) == ACLCHECK_OK;

		for (k = 0; k < t->ncols; k++)
		{
			t->cols[k].readable = all ||
				pg_attribute_aclcheck(t->relid, t->cols[k].attnum, userid,
									  ACL_SELECT) == ACLCHECK_OK;
			if (t->cols[k].readable)
				readable++;
		}
		if (readable == 0)
		{
			ereport(NOTICE,
					(errmsg("gdpr.discover: skipping table %s: permission denied",
							quote_qualified_identifier(t->nspname, t->relname)),
					 errhint("Run discover as a role that may read every table, or grant it SELECT.")));
			continue;
		}
		if (readable < t->ncols)
			ereport(NOTICE,
					(errmsg("gdpr.discover: sampling %d of %d columns of %s: permission denied for the others",
							readable, t->ncols,
							quote_qualified_identifier(t->nspname, t->relname))));

		old = MemoryContextSwitchTo(work);
		sample_table(t, sample_rows);
		MemoryContextSwitchTo(old);

		/* an address in the table makes "state", "country" address parts */
		for (k = 0; k < t->ncols; k++)
		{
			DiscColumn *c = &t->cols[k];

			if (!c->readable)
				continue;
			if (c->sig.category && strcmp(c->sig.category, "contact.address") == 0 &&
				!(c->sig.flags & (GDPR_SIG_ADDRPART | GDPR_SIG_NEGATED)) &&
				c->sig.confidence >= 0.6 && signal_applies(&c->sig, c->kind))
				address_context = true;
			if (c->counts[GDPR_DET_NONNULL] > 0 &&
				c->counts[GDPR_DET_POSTCODE_NL] * 2 > c->counts[GDPR_DET_NONNULL])
				address_context = true;
		}
		for (k = 0; k < t->ncols; k++)
		{
			if (t->cols[k].readable)
				evaluate_column(t, &t->cols[k], address_context, min_conf,
								rsinfo->setResult, rsinfo->setDesc);
		}
	}

	SPI_finish();
	MemoryContextDelete(work);
	return (Datum) 0;
}
