/*-------------------------------------------------------------------------
 *
 * fuzz_labels.c
 *	  libFuzzer target for the gdpr label parser: gdpr_parse_table_label()
 *	  and gdpr_parse_column_label() of src/labels.c, compiled unchanged and
 *	  linked against shim.c.
 *
 * Each input (valid UTF-8 without NUL, as the server would pass it) goes
 * through both parsers.  Besides "no crash, no leak, no sanitizer report",
 * a label that parses must satisfy the parser's contract:
 *	 - identifiers are 1..63 bytes (NAMEDATALEN - 1), purposes distinct and
 *	   at most GDPR_MAX_PURPOSES_PER_COLUMN, a category from the taxonomy,
 *	   never SUBJECT KEY together with BELONGS TO;
 *	 - printing the parsed form back (identifiers quoted) and parsing it
 *	   again gives the same result (the parser is deterministic and its
 *	   output is stable).
 * Every ERROR carries an errcode (the shim aborts otherwise).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdlib.h>

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "nodes/value.h"

#include "tags.h"
#include "shim.h"

static void
check(bool cond, const char *what, const char *label)
{
	if (!cond)
	{
		fprintf(stderr, "contract violated: %s\nlabel: %s\n", what, label);
		abort();
	}
}

static void
check_ident(const char *id, const char *label)
{
	size_t		n;

	check(id != NULL, "identifier is NULL", label);
	n = strlen(id);
	check(n >= 1 && n < NAMEDATALEN, "identifier length out of 1..63", label);
}

static void
append_quoted(StringInfo buf, const char *id)
{
	appendStringInfoChar(buf, '"');
	for (; *id; id++)
	{
		if (*id == '"')
			appendStringInfoChar(buf, '"');
		appendStringInfoChar(buf, *id);
	}
	appendStringInfoChar(buf, '"');
}

static bool
same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static char *
print_table_label(const GdprTableLabel *t)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (t->subject_key)
	{
		appendStringInfoString(&buf, "SUBJECT KEY (");
		append_quoted(&buf, t->subject_key);
		appendStringInfoString(&buf, ") ");
	}
	if (t->retain_from)
	{
		appendStringInfoString(&buf, "retain from ");
		append_quoted(&buf, t->retain_from);
		appendStringInfoChar(&buf, ' ');
	}
	if (t->belongs_to_name)
	{
		ListCell   *lc;
		bool		first = true;

		appendStringInfoString(&buf, "Belongs To ");
		foreach(lc, t->belongs_to_name)
		{
			if (!first)
				appendStringInfoChar(&buf, '.');
			append_quoted(&buf, strVal(lfirst(lc)));
			first = false;
		}
		appendStringInfoString(&buf, "(");
		append_quoted(&buf, t->belongs_to_col);
		appendStringInfoString(&buf, ")");
	}
	return buf.data;
}

static void
check_table_label(const GdprTableLabel *t, const char *label)
{
	ListCell   *lc;

	check(t->subject_key || t->retain_from || t->belongs_to_name,
		  "table label parsed to nothing", label);
	check(!(t->subject_key && t->belongs_to_name),
		  "SUBJECT KEY together with BELONGS TO", label);
	if (t->subject_key)
		check_ident(t->subject_key, label);
	if (t->retain_from)
		check_ident(t->retain_from, label);
	check((t->belongs_to_name == NIL) == (t->belongs_to_col == NULL),
		  "BELONGS TO without its column", label);
	if (t->belongs_to_name)
	{
		check(list_length(t->belongs_to_name) == 1 || list_length(t->belongs_to_name) == 2,
			  "BELONGS TO name of more than two parts", label);
		foreach(lc, t->belongs_to_name)
			check_ident(strVal(lfirst(lc)), label);
		check_ident(t->belongs_to_col, label);
	}
}

static bool
same_table_label(const GdprTableLabel *a, const GdprTableLabel *b)
{
	if (!same_str(a->subject_key, b->subject_key) ||
		!same_str(a->retain_from, b->retain_from) ||
		!same_str(a->belongs_to_col, b->belongs_to_col) ||
		list_length(a->belongs_to_name) != list_length(b->belongs_to_name))
		return false;
	for (int i = 0; i < list_length(a->belongs_to_name); i++)
		if (strcmp(strVal(list_nth(a->belongs_to_name, i)),
				   strVal(list_nth(b->belongs_to_name, i))) != 0)
			return false;
	return true;
}

static char *
print_column_label(const GdprColumnLabel *c)
{
	StringInfoData buf;
	ListCell   *lc;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "purpose ");
	foreach(lc, c->purposes)
	{
		if (!first)
			appendStringInfoString(&buf, ", ");
		append_quoted(&buf, strVal(lfirst(lc)));
		first = false;
	}
	if (c->category)
		appendStringInfo(&buf, " CATEGORY %s", c->category);
	return buf.data;
}

static void
check_column_label(const GdprColumnLabel *c, const char *label)
{
	ListCell   *lc;
	bool		known = false;

	check(list_length(c->purposes) >= 1 &&
		  list_length(c->purposes) <= GDPR_MAX_PURPOSES_PER_COLUMN,
		  "number of purposes out of 1..32", label);
	foreach(lc, c->purposes)
	{
		ListCell   *lc2;

		check_ident(strVal(lfirst(lc)), label);
		for_each_cell(lc2, c->purposes, lnext(c->purposes, lc))
			check(strcmp(strVal(lfirst(lc)), strVal(lfirst(lc2))) != 0,
				  "duplicate purpose accepted", label);
	}
	if (c->category)
	{
		for (int i = 0; gdpr_categories[i]; i++)
			if (strcmp(gdpr_categories[i], c->category) == 0)
				known = true;
		check(known, "category outside the taxonomy accepted", label);
	}
}

static bool
same_column_label(const GdprColumnLabel *a, const GdprColumnLabel *b)
{
	if (!same_str(a->category, b->category) ||
		list_length(a->purposes) != list_length(b->purposes))
		return false;
	for (int i = 0; i < list_length(a->purposes); i++)
		if (strcmp(strVal(list_nth(a->purposes, i)),
				   strVal(list_nth(b->purposes, i))) != 0)
			return false;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sigjmp_buf	jb;
	char	   *label;
	GdprTableLabel *volatile tl = NULL;
	GdprColumnLabel *volatile cl = NULL;

	if (size > 4096 || !shim_valid_utf8(data, size))
		return 0;
	label = malloc(size + 1);
	memcpy(label, data, size);
	label[size] = '\0';

	shim_catch = &jb;

	/* table label, then its round trip */
	if (sigsetjmp(jb, 0) == 0)
		tl = gdpr_parse_table_label(label);
	if (tl)
	{
		char	   *again = print_table_label(tl);
		GdprTableLabel *volatile t2 = NULL;

		check_table_label(tl, label);
		if (sigsetjmp(jb, 0) == 0)
			t2 = gdpr_parse_table_label(again);
		check(t2 != NULL, "printed table label does not parse again", again);
		check(same_table_label(tl, t2), "table label round trip differs", label);
	}

	/* column label, then its round trip */
	if (sigsetjmp(jb, 0) == 0)
		cl = gdpr_parse_column_label(label);
	if (cl)
	{
		char	   *again = print_column_label(cl);
		GdprColumnLabel *volatile c2 = NULL;

		check_column_label(cl, label);
		if (sigsetjmp(jb, 0) == 0)
			c2 = gdpr_parse_column_label(again);
		check(c2 != NULL, "printed column label does not parse again", again);
		check(same_column_label(cl, c2), "column label round trip differs", label);
	}

	shim_catch = NULL;
	shim_reset();
	free(label);
	return 0;
}
