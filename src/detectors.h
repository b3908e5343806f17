/*-------------------------------------------------------------------------
 *
 * detectors.h
 *	  Pure C detectors of personal data in values and column names, used by
 *	  gdpr.discover() (discover.c).
 *
 * Nothing here depends on the server beyond c.h: no palloc, no ereport,
 * no catalog access.  Every function takes a pointer and a length (values
 * need not be NUL-terminated), never reads outside [s, s + len), never
 * allocates, and is safe on arbitrary bytes; a fuzzer or a unit test can
 * link detectors.o alone.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GDPR_DETECTORS_H
#define GDPR_DETECTORS_H

#include "c.h"

/*
 * Whole-value detectors.  Leading and trailing white space is ignored;
 * everything else must be the thing detected.
 */
extern bool gdpr_is_email(const char *s, size_t len);
extern bool gdpr_is_phone(const char *s, size_t len);	/* E.164, NL, +intl */
extern bool gdpr_is_phone_loose(const char *s, size_t len);	/* national formats */
extern bool gdpr_is_iban(const char *s, size_t len);
extern bool gdpr_is_bsn(const char *s, size_t len);
extern bool gdpr_is_card(const char *s, size_t len);
extern bool gdpr_is_ipv4(const char *s, size_t len);
extern bool gdpr_is_ipv6(const char *s, size_t len);
extern bool gdpr_is_postcode_nl(const char *s, size_t len);

/*
 * Detector slots of gdpr_detect_value() and of the counts array of the
 * aggregate gdpr._detect_counts(text): slot 0 counts the non-null values,
 * the others the values a detector matched.  The *_TEXT slots count values
 * that are not the thing as a whole but contain one inside free text
 * ("bel 06-12345678 na vijven").
 */
typedef enum GdprDetector
{
	GDPR_DET_NONNULL = 0,
	GDPR_DET_EMAIL,
	GDPR_DET_PHONE,
	GDPR_DET_PHONE_LOOSE,
	GDPR_DET_IBAN,
	GDPR_DET_BSN,
	GDPR_DET_CARD,
	GDPR_DET_IPV4,
	GDPR_DET_IPV6,
	GDPR_DET_POSTCODE_NL,
	GDPR_DET_EMAIL_TEXT,
	GDPR_DET_PHONE_TEXT,
	GDPR_DET_IBAN_TEXT,
	GDPR_DET_NSLOTS
} GdprDetector;

/* names of the slots ("nonnull", "email", ...); GDPR_DET_NSLOTS entries */
extern const char *const gdpr_detector_names[];

/* the category of the taxonomy a detector's matches belong to */
extern const char *gdpr_detector_category(GdprDetector d);

/*
 * Run every detector over one value; returns a bit mask (1 << GdprDetector)
 * of the detectors that matched.  Values longer than GDPR_DETECT_MAX_SCAN
 * are scanned for embedded matches in their first GDPR_DETECT_MAX_SCAN
 * bytes only.
 */
#define GDPR_DETECT_MAX_SCAN 8192
extern uint32 gdpr_detect_value(const char *s, size_t len);

/* free-text scanners: true when s contains an e-mail / phone / IBAN */
extern bool gdpr_text_has_email(const char *s, size_t len);
extern bool gdpr_text_has_phone(const char *s, size_t len);
extern bool gdpr_text_has_iban(const char *s, size_t len);

/*
 * Column-name signals.  The name is split into tokens on non-alphanumerics,
 * case changes (camelCase) and letter/digit changes, folded to lower case
 * ASCII (é -> e, ß -> ss, ...), and matched word by word, adjacent pairs and
 * triples joined ("first_name" -> "firstname", "date_of_birth"), and
 * Dutch/German compounds by their parts ("telefoonnummer", "factuuradres").
 *
 * Flags describe what a signal needs from its surroundings:
 *  GDPR_SIG_GENERIC   a word such as "name", "title", "notes": personal only
 *                     with a person qualifier in the column name
 *                     ("contact_name") or as the whole name in a table of
 *                     persons (customer.name); weak otherwise
 *  GDPR_SIG_ADDRPART  "state", "region", "country": part of an address only
 *                     in a table that has address columns too (or with a
 *                     billing/shipping qualifier); the caller checks that
 *  GDPR_SIG_NEGATED   the name also says it is about the thing, not the
 *                     thing itself (order_email_template, phone_type)
 *  GDPR_SIG_DOB       a date of birth: date columns only, values checked
 *  GDPR_SIG_VERIFIABLE content detectors exist for the category: when the
 *                     values contradict the name, the caller lowers it
 */
#define GDPR_SIG_GENERIC	0x01
#define GDPR_SIG_ADDRPART	0x02
#define GDPR_SIG_NEGATED	0x04
#define GDPR_SIG_DOB		0x08
#define GDPR_SIG_VERIFIABLE 0x10
#define GDPR_SIG_PERSONTAB	0x20	/* the table holds persons */
#define GDPR_SIG_QUALIFIED	0x40	/* a person/address qualifier was seen */
#define GDPR_SIG_ANYTYPE	0x80	/* applies to non-text columns (photo) */

typedef struct GdprNameSignal
{
	const char *category;		/* NULL: no signal */
	double		confidence;		/* after GENERIC/NEGATED adjustment; the
								 * caller applies ADDRPART */
	int			flags;
	const char *rule;			/* the matched word, for the evidence */
} GdprNameSignal;

extern void gdpr_name_signal(const char *colname, const char *relname,
							 GdprNameSignal *sig);

/* true when a table name denotes persons (customer, klanten, Mitarbeiter) */
extern bool gdpr_is_person_table(const char *relname);

#endif							/* GDPR_DETECTORS_H */
