/*-------------------------------------------------------------------------
 *
 * labels.c
 *	  The "gdpr" security label provider (API section 2): the label
 *	  grammar's tokenizer and parser, the provider hook that validates a
 *	  label against the catalog, and the per-backend tag cache.
 *
 * Grammar (keywords case-insensitive; identifiers follow SQL rules: an
 * unquoted one is downcased, a quoted one keeps its case):
 *
 *	 table_label  = table_clause { table_clause } ;
 *	 table_clause = "SUBJECT" "KEY" "(" ident ")"
 *				  | "RETAIN" "FROM" ident
 *				  | "BELONGS" "TO" [ ident "." ] ident "(" ident ")" ;
 *	 column_label = column_clause { column_clause } ;	(PURPOSE required)
 *	 column_clause = "PURPOSE" ident { "," ident }
 *				  | "CATEGORY" ident { "." ident } ;
 *
 * Labels live only in pg_seclabel (by attnum for columns, so a renamed
 * column keeps its tag and a dropped one loses it).  The tag cache holds
 * their parsed, catalog-resolved form per relation; it is reset by relcache
 * invalidation, which the provider hook sends for every label change.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/xact.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/objectaccess.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/partition.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_seclabel.h"
#include "catalog/pg_type.h"
#include "commands/seclabel.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "parser/scansup.h"
#include "tcop/utility.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "gdpr.h"
#include "graph.h"
#include "purposes.h"
#include "tags.h"

const char *const gdpr_categories[] = {
	"name",
	"contact.email",
	"contact.phone",
	"contact.address",
	"identifier.government",
	"identifier.online",
	"financial",
	"demographic",
	"behavioral",
	"location",
	"special.health",
	"special.other",
	"other",
	NULL
};

static bool has_gdpr_labels(Oid relid);

/*
 * The extension is installed in this database.  Checked by its table
 * gdpr.purpose (a syscache lookup) rather than by schema gdpr, which
 * survives DROP EXTENSION.
 */
static bool
extension_ready(void)
{
	return OidIsValid(gdpr_table_oid("purpose", true));
}

static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static object_access_hook_type prev_object_access_hook = NULL;

#define TABLE_LABEL_HINT \
	"A table label is one or more of: SUBJECT KEY (column), RETAIN FROM column, BELONGS TO table (column)."
#define COLUMN_LABEL_HINT \
	"A column label is: PURPOSE purpose [, purpose ...] [CATEGORY category]."

/* ----------------------------------------------------------------
 * Tokenizer
 * ----------------------------------------------------------------
 */
typedef enum LTokType
{
	LT_EOF,
	LT_IDENT,
	LT_LPAREN,
	LT_RPAREN,
	LT_COMMA,
	LT_DOT
} LTokType;

typedef struct LTok
{
	LTokType	type;
	bool		quoted;			/* LT_IDENT: was a "quoted" identifier */
	char	   *val;			/* LT_IDENT: identifier per SQL rules */
	int			start;			/* byte offset in the label */
	int			end;			/* byte offset just past the token */
} LTok;

typedef struct LParser
{
	const char *label;
	int			len;
	int			pos;			/* scan position (bytes) */
	bool		column;			/* parsing a column label */
	LTok		tok;			/* current token */
} LParser;

/* 1-based character position of byte offset off */
static int
char_position(const LParser *p, int off)
{
	return pg_mbstrlen_with_len(p->label, off) + 1;
}

static const char *
label_hint(const LParser *p)
{
	return p->column ? COLUMN_LABEL_HINT : TABLE_LABEL_HINT;
}

/*
 * Raise an error about the label at byte offset off: the message reads
 * "<msg> at position N of gdpr label[: <more>]", the detail shows the label
 * with a caret under the position, the hint the grammar.
 */
static void
label_error_at(const LParser *p, int off, int sqlstate, const char *msg,
			   const char *more) pg_attribute_noreturn();

static void
label_error_at(const LParser *p, int off, int sqlstate, const char *msg,
			   const char *more)
{
	int			cpos = char_position(p, off);

	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("%s at position %d of gdpr label%s%s", msg, cpos,
					more ? ": " : "", more ? more : ""),
			 errdetail("%s\n%*s^", p->label, cpos - 1, ""),
			 errhint("%s", label_hint(p))));
}

static char *
token_text(const LParser *p)
{
	if (p->tok.type == LT_EOF)
		return pstrdup("end of label");
	return psprintf("\"%.*s\"", p->tok.end - p->tok.start, p->label + p->tok.start);
}

static void
lp_syntax_error(const LParser *p, const char *expected)
	pg_attribute_noreturn();

static void
lp_syntax_error(const LParser *p, const char *expected)
{
	label_error_at(p, p->tok.start, ERRCODE_SYNTAX_ERROR, "syntax error",
				   psprintf("expected %s, found %s", expected, token_text(p)));
}

static bool
ident_start_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		IS_HIGHBIT_SET(c);
}

static bool
ident_cont_char(unsigned char c)
{
	return ident_start_char(c) || (c >= '0' && c <= '9') || c == '$';
}

static void
lp_next(LParser *p)
{
	const char *s = p->label;
	unsigned char c;

	while (p->pos < p->len && scanner_isspace(s[p->pos]))
		p->pos++;

	p->tok.start = p->pos;
	p->tok.quoted = false;
	p->tok.val = NULL;

	if (p->pos >= p->len)
	{
		p->tok.type = LT_EOF;
		p->tok.end = p->pos;
		return;
	}

	c = (unsigned char) s[p->pos];
	switch (c)
	{
		case '(':
			p->tok.type = LT_LPAREN;
			p->pos++;
			break;
		case ')':
			p->tok.type = LT_RPAREN;
			p->pos++;
			break;
		case ',':
			p->tok.type = LT_COMMA;
			p->pos++;
			break;
		case '.':
			p->tok.type = LT_DOT;
			p->pos++;
			break;
		case '"':
			{
				StringInfoData buf;

				initStringInfo(&buf);
				p->pos++;
				for (;;)
				{
					if (p->pos >= p->len)
						label_error_at(p, p->tok.start, ERRCODE_SYNTAX_ERROR,
									   "unterminated quoted identifier", NULL);
					if (s[p->pos] == '"')
					{
						if (p->pos + 1 < p->len && s[p->pos + 1] == '"')
						{
							appendStringInfoChar(&buf, '"');
							p->pos += 2;
							continue;
						}
						p->pos++;
						break;
					}
					appendStringInfoChar(&buf, s[p->pos]);
					p->pos++;
				}
				if (buf.len == 0)
					label_error_at(p, p->tok.start, ERRCODE_SYNTAX_ERROR,
								   "zero-length quoted identifier", NULL);
				truncate_identifier(buf.data, buf.len, true);
				p->tok.type = LT_IDENT;
				p->tok.quoted = true;
				p->tok.val = buf.data;
				break;
			}
		default:
			if (ident_start_char(c))
			{
				int			start = p->pos;

				while (p->pos < p->len && ident_cont_char((unsigned char) s[p->pos]))
					p->pos++;
				p->tok.type = LT_IDENT;
				p->tok.val = downcase_truncate_identifier(s + start, p->pos - start, true);
			}
			else
			{
				int			clen = pg_mblen(s + p->pos);

				label_error_at(p, p->pos, ERRCODE_SYNTAX_ERROR, "syntax error",
							   psprintf("unexpected character \"%.*s\"",
										clen, s + p->pos));
			}
			break;
	}
	p->tok.end = p->pos;
}

/* current token is the (unquoted) keyword kw (lower case) */
static bool
lp_is_kw(const LParser *p, const char *kw)
{
	return p->tok.type == LT_IDENT && !p->tok.quoted && strcmp(p->tok.val, kw) == 0;
}

static void
lp_expect_kw(LParser *p, const char *kw, const char *display)
{
	if (!lp_is_kw(p, kw))
		lp_syntax_error(p, display);
	lp_next(p);
}

static void
lp_expect(LParser *p, LTokType type, const char *display)
{
	if (p->tok.type != type)
		lp_syntax_error(p, display);
	lp_next(p);
}

static char *
lp_ident(LParser *p, const char *what)
{
	char	   *val;

	if (p->tok.type != LT_IDENT)
		lp_syntax_error(p, what);
	val = p->tok.val;
	lp_next(p);
	return val;
}

static void
check_not_empty(const char *label, bool column)
{
	const char *s;

	for (s = label; *s; s++)
		if (!scanner_isspace(*s))
			return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("empty gdpr label"),
			 errdetail("%s", column ? COLUMN_LABEL_HINT : TABLE_LABEL_HINT),
			 errhint("To remove a label, use: SECURITY LABEL FOR gdpr ON ... IS NULL.")));
}

static void
lp_init(LParser *p, const char *label, bool column)
{
	check_not_empty(label, column);
	p->label = label;
	p->len = strlen(label);
	p->pos = 0;
	p->column = column;
	lp_next(p);
}

static bool
category_allowed(const char *cat)
{
	int			i;

	for (i = 0; gdpr_categories[i] != NULL; i++)
		if (strcmp(gdpr_categories[i], cat) == 0)
			return true;
	return false;
}

char *
gdpr_category_list_text(void)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; gdpr_categories[i] != NULL; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, gdpr_categories[i]);
	}
	return buf.data;
}

GdprTableLabel *
gdpr_parse_table_label(const char *label)
{
	LParser		p;
	GdprTableLabel *result = palloc0(sizeof(GdprTableLabel));
	int			belongs_pos = -1;

	lp_init(&p, label, false);

	if (lp_is_kw(&p, "purpose") || lp_is_kw(&p, "category"))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("a column label (PURPOSE ... CATEGORY ...) cannot be set on a table"),
				 errhint("Label the column: SECURITY LABEL FOR gdpr ON COLUMN table.column IS '%s'.",
						 label)));

	while (p.tok.type != LT_EOF)
	{
		int			clause_start = p.tok.start;

		if (lp_is_kw(&p, "subject"))
		{
			if (result->subject_key)
				label_error_at(&p, clause_start, ERRCODE_SYNTAX_ERROR,
							   "SUBJECT KEY given twice", NULL);
			lp_next(&p);
			lp_expect_kw(&p, "key", "KEY");
			lp_expect(&p, LT_LPAREN, "\"(\"");
			result->subject_key = lp_ident(&p, "a column name");
			if (p.tok.type == LT_COMMA)
				label_error_at(&p, p.tok.start, ERRCODE_FEATURE_NOT_SUPPORTED,
							   "a SUBJECT KEY must be a single column", NULL);
			lp_expect(&p, LT_RPAREN, "\")\"");
		}
		else if (lp_is_kw(&p, "retain"))
		{
			if (result->retain_from)
				label_error_at(&p, clause_start, ERRCODE_SYNTAX_ERROR,
							   "RETAIN FROM given twice", NULL);
			lp_next(&p);
			lp_expect_kw(&p, "from", "FROM");
			result->retain_from = lp_ident(&p, "a column name");
		}
		else if (lp_is_kw(&p, "belongs"))
		{
			char	   *name;

			if (result->belongs_to_name)
				label_error_at(&p, clause_start, ERRCODE_SYNTAX_ERROR,
							   "BELONGS TO given twice", NULL);
			belongs_pos = clause_start;
			lp_next(&p);
			lp_expect_kw(&p, "to", "TO");
			name = lp_ident(&p, "a table name");
			result->belongs_to_name = list_make1(makeString(name));
			if (p.tok.type == LT_DOT)
			{
				lp_next(&p);
				name = lp_ident(&p, "a table name");
				result->belongs_to_name = lappend(result->belongs_to_name,
												  makeString(name));
			}
			lp_expect(&p, LT_LPAREN, "\"(\" and the column that refers to the subject");
			result->belongs_to_col = lp_ident(&p, "a column name");
			if (p.tok.type == LT_COMMA)
				label_error_at(&p, p.tok.start, ERRCODE_FEATURE_NOT_SUPPORTED,
							   "BELONGS TO takes a single column", NULL);
			lp_expect(&p, LT_RPAREN, "\")\"");
		}
		else if (clause_start == 0)
			lp_syntax_error(&p, "SUBJECT KEY, RETAIN FROM or BELONGS TO");
		else
			lp_syntax_error(&p, "SUBJECT KEY, RETAIN FROM, BELONGS TO or end of label");
	}

	if (result->subject_key && result->belongs_to_name)
		label_error_at(&p, belongs_pos, ERRCODE_INVALID_PARAMETER_VALUE,
					   "a table cannot have both SUBJECT KEY and BELONGS TO", NULL);

	return result;
}

GdprColumnLabel *
gdpr_parse_column_label(const char *label)
{
	LParser		p;
	GdprColumnLabel *result = palloc0(sizeof(GdprColumnLabel));
	bool		seen_purpose = false;

	lp_init(&p, label, true);

	if (lp_is_kw(&p, "subject") || lp_is_kw(&p, "retain") || lp_is_kw(&p, "belongs"))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("a table label (SUBJECT KEY, RETAIN FROM, BELONGS TO) cannot be set on a column"),
				 errhint("Label the table: SECURITY LABEL FOR gdpr ON TABLE table IS '%s'.",
						 label)));

	while (p.tok.type != LT_EOF)
	{
		int			clause_start = p.tok.start;

		if (lp_is_kw(&p, "purpose"))
		{
			if (seen_purpose)
				label_error_at(&p, clause_start, ERRCODE_SYNTAX_ERROR,
							   "PURPOSE given twice (list the purposes separated by commas)", NULL);
			seen_purpose = true;
			lp_next(&p);
			for (;;)
			{
				int			ppos = p.tok.start;
				char	   *name = lp_ident(&p, "a purpose name");
				ListCell   *lc;

				foreach(lc, result->purposes)
				{
					if (strcmp(strVal(lfirst(lc)), name) == 0)
						label_error_at(&p, ppos, ERRCODE_SYNTAX_ERROR,
									   psprintf("purpose \"%s\" listed twice", name), NULL);
				}
				if (list_length(result->purposes) >= GDPR_MAX_PURPOSES_PER_COLUMN)
					label_error_at(&p, ppos, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
								   psprintf("more than %d purposes",
											GDPR_MAX_PURPOSES_PER_COLUMN), NULL);
				result->purposes = lappend(result->purposes, makeString(name));
				if (p.tok.type != LT_COMMA)
					break;
				lp_next(&p);
			}
		}
		else if (lp_is_kw(&p, "category"))
		{
			StringInfoData buf;
			int			cpos;
			char	   *cat;

			if (result->category)
				label_error_at(&p, clause_start, ERRCODE_SYNTAX_ERROR,
							   "CATEGORY given twice", NULL);
			lp_next(&p);
			cpos = p.tok.start;
			initStringInfo(&buf);
			appendStringInfoString(&buf, lp_ident(&p, "a category"));
			while (p.tok.type == LT_DOT)
			{
				lp_next(&p);
				appendStringInfoChar(&buf, '.');
				appendStringInfoString(&buf, lp_ident(&p, "a category"));
			}
			/* categories are a fixed taxonomy: compare case-insensitively */
			cat = pstrdup(buf.data);
			for (char *c = cat; *c; c++)
				*c = pg_ascii_tolower((unsigned char) *c);
			if (!category_allowed(cat))
			{
				int			pos = char_position(&p, cpos);

				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown gdpr category \"%s\" at position %d of gdpr label",
								buf.data, pos),
						 errdetail("%s\n%*s^", p.label, pos - 1, ""),
						 errhint("Allowed categories: %s.", gdpr_category_list_text())));
			}
			result->category = cat;
		}
		else if (clause_start == 0)
			lp_syntax_error(&p, "PURPOSE");
		else
			lp_syntax_error(&p, "PURPOSE, CATEGORY or end of label");
	}

	if (!seen_purpose)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gdpr column label has no PURPOSE"),
				 errdetail("Label: %s", label),
				 errhint("%s", COLUMN_LABEL_HINT)));

	return result;
}

/* ----------------------------------------------------------------
 * Catalog checks (the provider hook)
 * ----------------------------------------------------------------
 */

/* attnum of a live user column, or InvalidAttrNumber */
static AttrNumber
user_attnum(Oid relid, const char *colname)
{
	AttrNumber	attnum = get_attnum(relid, colname);

	if (attnum <= 0)
		return InvalidAttrNumber;
	return attnum;
}

static AttrNumber
require_column(Relation rel, const char *colname, const char *clause)
{
	AttrNumber	attnum = user_attnum(RelationGetRelid(rel), colname);

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						colname, RelationGetRelationName(rel)),
				 errdetail("The column is named in %s.", clause),
				 errhint("Name a column of \"%s\"; quote names that are not all lower case.",
						 RelationGetRelationName(rel))));
	return attnum;
}

/* true when a valid, non-partial unique index has exactly the one column */
static bool
column_is_unique(Relation rel, AttrNumber attnum)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		result = false;

	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index idx;

		if (!HeapTupleIsValid(tup))
			continue;
		idx = (Form_pg_index) GETSTRUCT(tup);
		if (idx->indisunique && idx->indnkeyatts == 1 &&
			idx->indkey.values[0] == attnum &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL))
			result = true;
		ReleaseSysCache(tup);
		if (result)
			break;
	}
	list_free(indexes);
	return result;
}

/* labels of one object of class pg_class, provider gdpr: List of (subid, label) */
typedef struct RawLabel
{
	int32		subid;
	char	   *label;
} RawLabel;

static List *
read_raw_labels(Oid relid)
{
	Relation	seclabel;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *result = NIL;

	seclabel = table_open(SecLabelRelationId, AccessShareLock);
	ScanKeyInit(&keys[0], Anum_pg_seclabel_objoid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&keys[1], Anum_pg_seclabel_classoid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(RelationRelationId));
	scan = systable_beginscan(seclabel, SecLabelObjectIndexId, true, NULL, 2, keys);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		FormData_pg_seclabel *form = (FormData_pg_seclabel *) GETSTRUCT(tup);
		bool		isnull;
		Datum		d;
		RawLabel   *rl;

		d = heap_getattr(tup, Anum_pg_seclabel_provider, RelationGetDescr(seclabel), &isnull);
		if (isnull)
			continue;
		{
			char	   *provider = TextDatumGetCString(d);

			if (strcmp(provider, GDPR_PROVIDER) != 0)
				continue;
		}
		d = heap_getattr(tup, Anum_pg_seclabel_label, RelationGetDescr(seclabel), &isnull);
		if (isnull)
			continue;
		rl = palloc(sizeof(RawLabel));
		rl->subid = form->objsubid;
		rl->label = TextDatumGetCString(d);
		result = lappend(result, rl);
	}
	systable_endscan(scan);
	table_close(seclabel, AccessShareLock);
	return result;
}

static char *
raw_table_label(Oid relid)
{
	ListCell   *lc;

	foreach(lc, read_raw_labels(relid))
	{
		RawLabel   *rl = lfirst(lc);

		if (rl->subid == 0)
			return rl->label;
	}
	return NULL;
}

/*
 * Resolve a BELONGS TO name: an unqualified name means a table in the
 * labelled table's own schema (so the meaning does not depend on the
 * search_path of whoever reads the label later).
 */
static Oid
resolve_belongs_to(List *name, Oid labelled_relid)
{
	Oid			nspid;
	const char *relname;

	if (list_length(name) == 2)
	{
		nspid = get_namespace_oid(strVal(linitial(name)), true);
		relname = strVal(lsecond(name));
	}
	else
	{
		nspid = get_rel_namespace(labelled_relid);
		relname = strVal(linitial(name));
	}
	if (!OidIsValid(nspid))
		return InvalidOid;
	return get_relname_relid(relname, nspid);
}

static const char *
relkind_text(char relkind)
{
	switch (relkind)
	{
		case RELKIND_VIEW:
			return "a view";
		case RELKIND_MATVIEW:
			return "a materialized view";
		case RELKIND_INDEX:
		case RELKIND_PARTITIONED_INDEX:
			return "an index";
		case RELKIND_SEQUENCE:
			return "a sequence";
		case RELKIND_FOREIGN_TABLE:
			return "a foreign table";
		case RELKIND_COMPOSITE_TYPE:
			return "a composite type";
		case RELKIND_TOASTVALUE:
			return "a TOAST table";
		default:
			return "not a table";
	}
}

/*
 * "a, b" of the tables whose table label says BELONGS TO relid, or NULL.
 */
static char *
belongs_to_dependents(Oid relid)
{
	List	   *rels = gdpr_labelled_relations();
	ListCell   *lc;
	StringInfoData buf;

	initStringInfo(&buf);
	foreach(lc, rels)
	{
		Oid			other = lfirst_oid(lc);
		char	   *label = raw_table_label(other);
		GdprTableLabel *tl;

		if (label == NULL || other == relid)
			continue;
		tl = gdpr_parse_table_label(label);
		if (tl->belongs_to_name == NIL ||
			resolve_belongs_to(tl->belongs_to_name, other) != relid)
			continue;
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, gdpr_relation_name(other));
	}
	return buf.len > 0 ? buf.data : NULL;
}

static void
check_table_label(Relation rel, const char *label, bool cross_checks)
{
	GdprTableLabel *tl = gdpr_parse_table_label(label);
	const char *relname = RelationGetRelationName(rel);

	if (tl->subject_key)
	{
		AttrNumber	attnum = require_column(rel, tl->subject_key, "SUBJECT KEY");

		if (cross_checks && !column_is_unique(rel, attnum))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("SUBJECT KEY column \"%s\" of relation \"%s\" is not unique",
							tl->subject_key, relname),
					 errdetail("A subject key must identify exactly one row of the subject table."),
					 errhint("Name a column that is the primary key or has a unique constraint of its own.")));
	}

	if (tl->retain_from)
	{
		AttrNumber	attnum = require_column(rel, tl->retain_from, "RETAIN FROM");
		Oid			typid = getBaseType(get_atttype(RelationGetRelid(rel), attnum));

		if (typid != DATEOID && typid != TIMESTAMPOID && typid != TIMESTAMPTZOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("RETAIN FROM column \"%s\" of relation \"%s\" has type %s",
							tl->retain_from, relname, format_type_be(typid)),
					 errhint("RETAIN FROM needs a column of type date, timestamp or timestamp with time zone.")));
	}

	if (tl->belongs_to_name)
	{
		require_column(rel, tl->belongs_to_col, "BELONGS TO");
		if (cross_checks)
		{
			Oid			target = resolve_belongs_to(tl->belongs_to_name, RelationGetRelid(rel));
			char	   *target_label;
			char	   *target_name = NameListToString(tl->belongs_to_name);
			GdprTableLabel *ttl = NULL;

			if (!OidIsValid(target))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_TABLE),
						 errmsg("BELONGS TO table \"%s\" does not exist", target_name),
						 errhint("An unqualified name means a table in schema \"%s\"; schema-qualify it otherwise.",
								 get_namespace_name(RelationGetNamespace(rel)))));
			if (target == RelationGetRelid(rel))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
						 errmsg("relation \"%s\" cannot belong to itself", relname)));
			target_label = raw_table_label(target);
			if (target_label)
				ttl = gdpr_parse_table_label(target_label);
			if (ttl == NULL || ttl->subject_key == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
						 errmsg("BELONGS TO table \"%s\" is not a subject table", target_name),
						 errhint("Register it first: SECURITY LABEL FOR gdpr ON TABLE %s IS 'SUBJECT KEY (column)'.",
								 target_name)));
		}
	}
}

static void
check_column_label(Relation rel, AttrNumber attnum, const char *label, bool cross_checks)
{
	GdprColumnLabel *cl;
	ListCell   *lc;

	cl = gdpr_parse_column_label(label);

	if (cross_checks)
	{
		/*
		 * Conflicts with drop_purpose's EXCLUSIVE lock (see 10_purposes.sql).
		 * Once we have it, a drop that committed meanwhile has invalidated
		 * the purpose cache; rebuild it from the latest snapshot, not from
		 * the statement's older one, as foreign key checks do.
		 */
		LockRelationOid(gdpr_table_oid("purpose", false), RowShareLock);
		PushActiveSnapshot(GetLatestSnapshot());
		foreach(lc, cl->purposes)
		{
			const char *name = strVal(lfirst(lc));

			if (gdpr_lookup_purpose(name) == NULL)
				gdpr_report_unknown_purpose(name);
		}
		PopActiveSnapshot();

		/*
		 * erase and expire clear tagged columns of rows that are kept; say
		 * now, not at the first erasure, when that cannot work.
		 */
		if (!gdpr_column_clearable(RelationGetRelid(rel), attnum))
			ereport(WARNING,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" of relation \"%s\" cannot be cleared by gdpr.erase or gdpr.expire",
							get_attname(RelationGetRelid(rel), attnum, false),
							RelationGetRelationName(rel)),
					 errdetail("The column is NOT NULL and its type has no neutral value (or a unique index rules it out)."),
					 errhint("Give the column a constant DEFAULT (used as the cleared value) or make it nullable; otherwise erasing or expiring a row that must be kept fails.")));
	}
}

/* names of the columns a generated column is computed from */
static char *
generated_from(Relation rel, AttrNumber attnum)
{
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	if (desc->constr == NULL)
		return buf.data;
	for (i = 0; i < desc->constr->num_defval; i++)
	{
		AttrDefault *def = &desc->constr->defval[i];
		Bitmapset  *attrs = NULL;
		int			k = -1;

		if (def->adnum != attnum)
			continue;
		pull_varattnos(stringToNode(def->adbin), 1, &attrs);
		while ((k = bms_next_member(attrs, k)) >= 0)
		{
			AttrNumber	a = k + FirstLowInvalidHeapAttributeNumber;

			if (a <= 0)
				continue;
			if (buf.len > 0)
				appendStringInfoString(&buf, ", ");
			appendStringInfoString(&buf,
								   quote_identifier(NameStr(TupleDescAttr(desc, a - 1)->attname)));
		}
	}
	return buf.data;
}

static void
audit_label_change(Relation rel, int32 subid, const char *attname,
				   const char *old_label, const char *new_label)
{
	StringInfoData buf;
	Jsonb	   *details;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"relation\": ");
	escape_json(&buf, gdpr_relation_name(RelationGetRelid(rel)));
	if (subid != 0)
	{
		appendStringInfoString(&buf, ", \"column\": ");
		escape_json(&buf, attname);
	}
	appendStringInfoString(&buf, ", \"object\": ");
	escape_json(&buf, subid != 0 ? "column" : "table");
	if (new_label)
	{
		appendStringInfoString(&buf, ", \"label\": ");
		escape_json(&buf, new_label);
	}
	if (old_label)
	{
		appendStringInfoString(&buf, ", \"previous\": ");
		escape_json(&buf, old_label);
	}
	appendStringInfoChar(&buf, '}');
	details = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
	gdpr_audit_change(new_label ? "tag.set" : "tag.remove", RelationGetRelid(rel), details);
}

static void
gdpr_object_relabel(const ObjectAddress *object, const char *seclabel)
{
	Relation	rel;
	char		relkind;
	bool		cross_checks;
	char	   *old_label;
	const char *attname = NULL;
	bool		installed;

	if (object->classId != RelationRelationId)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("gdpr labels are not supported on %s",
						getObjectDescription(object, false)),
				 errhint("Label tables (SUBJECT KEY, RETAIN FROM, BELONGS TO) and table columns (PURPOSE ... CATEGORY ...).")));

	/* ExecSecLabelStmt has locked the relation and checked ownership */
	rel = relation_open(object->objectId, NoLock);
	relkind = rel->rd_rel->relkind;

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("gdpr labels are not supported on %s",
						getObjectDescription(object, false)),
				 errdetail("\"%s\" is %s.", RelationGetRelationName(rel), relkind_text(relkind)),
				 errhint("Label tables (SUBJECT KEY, RETAIN FROM, BELONGS TO) and table columns (PURPOSE ... CATEGORY ...).")));

	/* belt and braces: the core checks ownership before calling us */
	if (!pg_class_ownercheck(RelationGetRelid(rel), GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(relkind),
					   RelationGetRelationName(rel));

	if (rel->rd_rel->relispartition && seclabel != NULL)
	{
		Oid			parent = get_partition_parent(RelationGetRelid(rel), true);

		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot set a gdpr label on partition \"%s\"",
						RelationGetRelationName(rel)),
				 errhint("Label the partitioned table %s; its labels apply to all of its partitions.",
						 gdpr_relation_name(parent))));
	}

	if (object->objectSubId != 0)
	{
		AttrNumber	attnum = object->objectSubId;
		Form_pg_attribute att;

		if (attnum < 0 || attnum > RelationGetNumberOfAttributes(rel) ||
			TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attisdropped)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("gdpr labels are only supported on user columns")));
		att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
		attname = NameStr(att->attname);
		if (att->attgenerated && seclabel != NULL)
		{
			char	   *from = generated_from(rel, attnum);

			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot tag generated column \"%s\" of relation \"%s\"",
							attname, RelationGetRelationName(rel)),
					 errdetail("Its value is computed from other columns and cannot be cleared by itself."),
					 from[0] ? errhint("Tag the columns it is computed from: %s.", from)
					 : errhint("Tag the columns it is computed from.")));
		}
	}

	installed = extension_ready();
	if (seclabel != NULL && !installed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"gdpr_crm\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION gdpr_crm CASCADE.")));

	/*
	 * A restore (pg_dump output sets check_function_bodies = off) brings the
	 * labels back before the purposes and before other tables and indexes:
	 * keep the syntax and column checks, skip those against other objects.
	 */
	cross_checks = check_function_bodies && !IsBinaryUpgrade;

	if (seclabel != NULL)
	{
		if (object->objectSubId == 0)
			check_table_label(rel, seclabel, cross_checks);
		else
			check_column_label(rel, object->objectSubId, seclabel, cross_checks);
	}

	old_label = GetSecurityLabel(object, GDPR_PROVIDER);

	/* a subject table stays one while other tables BELONG TO it */
	if (object->objectSubId == 0 && old_label != NULL && cross_checks && installed &&
		gdpr_parse_table_label(old_label)->subject_key != NULL &&
		(seclabel == NULL || gdpr_parse_table_label(seclabel)->subject_key == NULL))
	{
		char	   *deps = belongs_to_dependents(RelationGetRelid(rel));

		if (deps != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("relation \"%s\" must stay a subject table",
							RelationGetRelationName(rel)),
					 errdetail("These tables BELONG TO it: %s.", deps),
					 errhint("Remove or change their BELONGS TO labels first.")));
	}

	/*
	 * Audit real changes (setting the same text again is no change).  A
	 * restore (check_function_bodies off, run by a superuser) brings back
	 * labels whose setting the restored audit log already records: adding
	 * entries then would collide with the log being restored.
	 */
	if (installed && !(old_label == NULL && seclabel == NULL) &&
		!(!check_function_bodies && superuser()) &&
		!(old_label != NULL && seclabel != NULL && strcmp(old_label, seclabel) == 0))
		audit_label_change(rel, object->objectSubId, attname, old_label, seclabel);

	/* every session (and partitions' entries) rebuilds its cached tags */
	CacheInvalidateRelcacheByRelid(RelationGetRelid(rel));

	relation_close(rel, NoLock);
}

/* ----------------------------------------------------------------
 * Tag cache
 * ----------------------------------------------------------------
 */
typedef struct TagCacheEntry
{
	Oid			relid;			/* hash key */
	bool		valid;
	bool		inval_seen;		/* invalidated while being built */
	bool		is_partition;
	bool		dependent;		/* is_partition or belongs_to valid: other
								 * relations' invalidations concern it */
	Oid			source;			/* relation whose labels apply */
	Oid			belongs_to;
	MemoryContext cxt;			/* holds tags; NULL when none */
	GdprTableTags *tags;		/* NULL: no gdpr labels */
} TagCacheEntry;

static HTAB *tag_hash = NULL;
static int	n_dependent_entries = 0;	/* entries with dependent = true */
static MemoryContext tag_cache_cxt = NULL;

static void
tag_inval_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	TagCacheEntry *e;

	if (tag_hash == NULL)
		return;

	/* fast path: no entry depends on another relation */
	if (relid != InvalidOid && n_dependent_entries == 0)
	{
		e = hash_search(tag_hash, &relid, HASH_FIND, NULL);
		if (e != NULL)
		{
			e->valid = false;
			e->inval_seen = true;
		}
		return;
	}

	hash_seq_init(&status, tag_hash);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		/*
		 * A partition's tags come from an ancestor: any invalidation may be
		 * a label change up there (cheap to rebuild, and DDL is rare).
		 */
		if (relid == InvalidOid || e->relid == relid || e->is_partition ||
			e->source == relid || e->belongs_to == relid)
		{
			e->valid = false;
			e->inval_seen = true;
		}
	}
}

static void
tag_cache_init(void)
{
	HASHCTL		ctl;

	if (tag_hash != NULL)
		return;
	tag_cache_cxt = AllocSetContextCreate(CacheMemoryContext, "gdpr tag cache",
										  ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(TagCacheEntry);
	ctl.hcxt = tag_cache_cxt;
	tag_hash = hash_create("gdpr table tags", 64, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static void gdpr_labels_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
									   bool readOnlyTree, ProcessUtilityContext context,
									   ParamListInfo params, QueryEnvironment *queryEnv,
									   DestReceiver *dest, QueryCompletion *qc);
static void gdpr_labels_object_access(ObjectAccessType access, Oid classId,
									  Oid objectId, int subId, void *arg);

void
gdpr_labels_init(void)
{
	register_label_provider(GDPR_PROVIDER, gdpr_object_relabel);
	CacheRegisterRelcacheCallback(tag_inval_callback, (Datum) 0);

	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = gdpr_labels_ProcessUtility;
	prev_object_access_hook = object_access_hook;
	object_access_hook = gdpr_labels_object_access;
}

static bool
has_gdpr_labels(Oid relid)
{
	return read_raw_labels(relid) != NIL;
}

/*
 * Build the tags of relid (labels of source, attnums of relid) in a new
 * memory context; NULL when there are no labels.
 */
static GdprTableTags *
build_tags(Oid relid, Oid source, MemoryContext cxt)
{
	List	   *raw = read_raw_labels(source);
	GdprTableTags *tags;
	ListCell   *lc;
	MemoryContext old;
	int			n = 0;

	if (raw == NIL)
		return NULL;

	old = MemoryContextSwitchTo(cxt);
	tags = palloc0(sizeof(GdprTableTags));
	tags->relid = source;
	tags->columns = palloc0(sizeof(GdprColumnTag) * list_length(raw));
	MemoryContextSwitchTo(old);

	foreach(lc, raw)
	{
		RawLabel   *rl = lfirst(lc);

		if (rl->subid == 0)
		{
			GdprTableLabel *tl = gdpr_parse_table_label(rl->label);

			if (tl->subject_key)
			{
				tags->subject_key = user_attnum(relid, tl->subject_key);
				tags->is_subject = tags->subject_key != InvalidAttrNumber;
			}
			if (tl->retain_from)
				tags->retain_from = user_attnum(relid, tl->retain_from);
			if (tl->belongs_to_name)
			{
				tags->belongs_to = resolve_belongs_to(tl->belongs_to_name, source);
				tags->belongs_to_col = user_attnum(relid, tl->belongs_to_col);
				if (tags->belongs_to_col == InvalidAttrNumber)
					tags->belongs_to = InvalidOid;
			}
		}
		else
		{
			GdprColumnLabel *cl = gdpr_parse_column_label(rl->label);
			GdprColumnTag *ct = &tags->columns[n];
			AttrNumber	attnum = rl->subid;
			ListCell   *lc2;
			int			i = 0;

			if (source != relid)
			{
				char	   *attname = get_attname(source, rl->subid, true);

				attnum = attname ? user_attnum(relid, attname) : InvalidAttrNumber;
			}
			if (attnum == InvalidAttrNumber)
				continue;
			ct->attnum = attnum;
			old = MemoryContextSwitchTo(cxt);
			ct->npurposes = list_length(cl->purposes);
			ct->purposes = palloc(sizeof(char *) * ct->npurposes);
			foreach(lc2, cl->purposes)
				ct->purposes[i++] = pstrdup(strVal(lfirst(lc2)));
			ct->category = cl->category ? pstrdup(cl->category) : NULL;
			MemoryContextSwitchTo(old);
			n++;
		}
	}
	tags->ncolumns = n;
	return tags;
}

const GdprTableTags *
gdpr_table_tags(Oid relid)
{
	TagCacheEntry *e;
	bool		found;
	MemoryContext cxt;
	GdprTableTags *tags;
	Oid			source = relid;
	bool		is_partition;

	tag_cache_init();
	e = hash_search(tag_hash, &relid, HASH_ENTER, &found);
	if (!found)
	{
		e->valid = false;
		e->inval_seen = false;
		e->cxt = NULL;
		e->tags = NULL;
		e->is_partition = false;
		e->dependent = false;
		e->source = InvalidOid;
		e->belongs_to = InvalidOid;
	}
	if (e->valid)
		return e->tags;

	/*
	 * An invalidation that arrives while we read sets inval_seen, and the
	 * entry stays stale.  On error the entry simply stays invalid and the
	 * new context (a child of the current one) goes away with it.
	 */
	e->inval_seen = false;

	is_partition = get_rel_relispartition(relid);
	if (is_partition)
	{
		List	   *ancestors = get_partition_ancestors(relid);
		int			i;

		/* the top-most labelled ancestor wins */
		for (i = list_length(ancestors) - 1; i >= 0; i--)
		{
			Oid			anc = list_nth_oid(ancestors, i);

			if (has_gdpr_labels(anc))
			{
				source = anc;
				break;
			}
		}
	}

	cxt = AllocSetContextCreate(CurrentMemoryContext, "gdpr table tags",
								ALLOCSET_SMALL_SIZES);
	tags = build_tags(relid, source, cxt);

	/*
	 * Dynahash entries do not move: e is still ours.  Callers may still hold
	 * the old tags (an invalidation can arrive between two calls): keep them
	 * until the end of the transaction instead of freeing them now.
	 */
	if (e->cxt)
		MemoryContextSetParent(e->cxt, TopTransactionContext);
	if (tags)
	{
		MemoryContextSetParent(cxt, tag_cache_cxt);
		e->cxt = cxt;
	}
	else
	{
		MemoryContextDelete(cxt);
		e->cxt = NULL;
	}
	e->tags = tags;
	e->is_partition = is_partition;
	e->source = source;
	e->belongs_to = tags ? tags->belongs_to : InvalidOid;
	if (e->dependent)
		n_dependent_entries--;
	e->dependent = is_partition || OidIsValid(e->belongs_to);
	if (e->dependent)
		n_dependent_entries++;
	e->valid = !e->inval_seen;
	return tags;
}

const GdprColumnTag *
gdpr_column_tag(const GdprTableTags *tags, AttrNumber attnum)
{
	int			i;

	if (tags == NULL)
		return NULL;
	for (i = 0; i < tags->ncolumns; i++)
		if (tags->columns[i].attnum == attnum)
			return &tags->columns[i];
	return NULL;
}

bool
gdpr_column_has_purpose(const GdprColumnTag *tag, const char *purpose)
{
	int			i;

	if (tag == NULL || purpose == NULL)
		return false;
	for (i = 0; i < tag->npurposes; i++)
		if (strcmp(tag->purposes[i], purpose) == 0)
			return true;
	return false;
}

List *
gdpr_labelled_relations(void)
{
	Relation	seclabel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *result = NIL;

	seclabel = table_open(SecLabelRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_seclabel_classoid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(RelationRelationId));
	scan = systable_beginscan(seclabel, InvalidOid, false, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		FormData_pg_seclabel *form = (FormData_pg_seclabel *) GETSTRUCT(tup);
		bool		isnull;
		Datum		d;

		d = heap_getattr(tup, Anum_pg_seclabel_provider, RelationGetDescr(seclabel), &isnull);
		if (isnull || strcmp(TextDatumGetCString(d), GDPR_PROVIDER) != 0)
			continue;
		if (list_member_oid(result, form->objoid))
			continue;
		if (get_rel_relkind(form->objoid) == '\0' || get_rel_relispartition(form->objoid))
			continue;
		result = lappend_oid(result, form->objoid);
	}
	systable_endscan(scan);
	table_close(seclabel, AccessShareLock);
	list_sort(result, list_oid_cmp);
	return result;
}

/* ----------------------------------------------------------------
 * Keeping table labels in step with DDL
 *
 * Column labels are stored by attnum and need nothing.  Table labels name
 * columns (SUBJECT KEY, RETAIN FROM, BELONGS TO's column) and a table
 * (BELONGS TO): a rename of any of these rewrites the label to the new
 * names, and dropping a column that a table label names is refused.
 * ----------------------------------------------------------------
 */
typedef struct ResolvedTableLabel
{
	Oid			relid;
	char	   *old_label;		/* as stored */
	char	   *canonical;		/* canonical text, names before the DDL */
	AttrNumber	subject_key;
	AttrNumber	retain_from;
	AttrNumber	belongs_to_col;
	Oid			belongs_to;
	/* names before the DDL, used where an attnum/oid did not resolve */
	GdprTableLabel *parsed;
} ResolvedTableLabel;

static char *
canonical_table_label(const char *subject_key, const char *retain_from,
					  const char *bt_schema, const char *bt_table, const char *bt_col)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (subject_key)
		appendStringInfo(&buf, "SUBJECT KEY (%s)", quote_identifier(subject_key));
	if (retain_from)
		appendStringInfo(&buf, "%sRETAIN FROM %s", buf.len ? " " : "",
						 quote_identifier(retain_from));
	if (bt_table)
		appendStringInfo(&buf, "%sBELONGS TO %s (%s)", buf.len ? " " : "",
						 quote_qualified_identifier(bt_schema, bt_table),
						 quote_identifier(bt_col));
	return buf.data;
}

static char *
resolved_canonical(ResolvedTableLabel *r)
{
	GdprTableLabel *tl = r->parsed;
	const char *sk = tl->subject_key;
	const char *rf = tl->retain_from;
	const char *bc = tl->belongs_to_col;
	const char *bschema = NULL;
	const char *btable = NULL;

	if (r->subject_key != InvalidAttrNumber)
		sk = get_attname(r->relid, r->subject_key, true) ? get_attname(r->relid, r->subject_key, false) : sk;
	if (r->retain_from != InvalidAttrNumber)
		rf = get_attname(r->relid, r->retain_from, true) ? get_attname(r->relid, r->retain_from, false) : rf;
	if (r->belongs_to_col != InvalidAttrNumber)
		bc = get_attname(r->relid, r->belongs_to_col, true) ? get_attname(r->relid, r->belongs_to_col, false) : bc;
	if (tl->belongs_to_name)
	{
		if (OidIsValid(r->belongs_to) && get_rel_name(r->belongs_to) != NULL)
		{
			bschema = get_namespace_name(get_rel_namespace(r->belongs_to));
			btable = get_rel_name(r->belongs_to);
		}
		else
		{
			/* unresolved: keep what was written */
			if (list_length(tl->belongs_to_name) == 2)
				bschema = strVal(linitial(tl->belongs_to_name));
			btable = strVal(llast(tl->belongs_to_name));
		}
	}
	return canonical_table_label(sk, rf, bschema, btable, bc);
}

/* resolve every table label of the database (before a rename) */
static List *
resolve_all_table_labels(void)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, gdpr_labelled_relations())
	{
		Oid			relid = lfirst_oid(lc);
		char	   *label = raw_table_label(relid);
		ResolvedTableLabel *r;
		GdprTableLabel *tl;

		if (label == NULL)
			continue;
		tl = gdpr_parse_table_label(label);
		r = palloc0(sizeof(ResolvedTableLabel));
		r->relid = relid;
		r->old_label = label;
		r->parsed = tl;
		if (tl->subject_key)
			r->subject_key = user_attnum(relid, tl->subject_key);
		if (tl->retain_from)
			r->retain_from = user_attnum(relid, tl->retain_from);
		if (tl->belongs_to_name)
		{
			r->belongs_to = resolve_belongs_to(tl->belongs_to_name, relid);
			r->belongs_to_col = user_attnum(relid, tl->belongs_to_col);
		}
		r->canonical = resolved_canonical(r);
		result = lappend(result, r);
	}
	return result;
}

/* after the DDL: rewrite the labels whose names changed */
static void
rewrite_renamed_labels(List *resolved)
{
	ListCell   *lc;

	foreach(lc, resolved)
	{
		ResolvedTableLabel *r = lfirst(lc);
		char	   *now;
		ObjectAddress addr;
		StringInfoData buf;
		Jsonb	   *details;

		if (get_rel_name(r->relid) == NULL)
			continue;
		now = resolved_canonical(r);
		if (strcmp(now, r->canonical) == 0)
			continue;

		ObjectAddressSet(addr, RelationRelationId, r->relid);
		SetSecurityLabel(&addr, GDPR_PROVIDER, now);
		CacheInvalidateRelcacheByRelid(r->relid);

		initStringInfo(&buf);
		appendStringInfoString(&buf, "{\"relation\": ");
		escape_json(&buf, gdpr_relation_name(r->relid));
		appendStringInfoString(&buf, ", \"object\": \"table\", \"label\": ");
		escape_json(&buf, now);
		appendStringInfoString(&buf, ", \"previous\": ");
		escape_json(&buf, r->old_label);
		appendStringInfoString(&buf, ", \"reason\": \"rename\"}");
		details = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
		if (extension_ready())
			gdpr_audit_change("tag.set", r->relid, details);
	}
}

static void
check_retain_from_type(Oid relid)
{
	char	   *label = raw_table_label(relid);
	GdprTableLabel *tl;
	AttrNumber	attnum;
	Oid			typid;

	if (label == NULL)
		return;
	tl = gdpr_parse_table_label(label);
	if (tl->retain_from == NULL)
		return;
	attnum = user_attnum(relid, tl->retain_from);
	if (attnum == InvalidAttrNumber)
		return;
	typid = getBaseType(get_atttype(relid, attnum));
	if (typid != DATEOID && typid != TIMESTAMPOID && typid != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("RETAIN FROM column \"%s\" of relation \"%s\" cannot become type %s",
						tl->retain_from, get_rel_name(relid), format_type_be(typid)),
				 errdetail("Label: %s", label),
				 errhint("RETAIN FROM needs a column of type date, timestamp or timestamp with time zone; change the table label first.")));
}

static bool
is_rename_ddl(Node *node)
{
	if (IsA(node, RenameStmt))
	{
		RenameStmt *stmt = (RenameStmt *) node;

		return stmt->renameType == OBJECT_COLUMN ||
			stmt->renameType == OBJECT_TABLE ||
			stmt->renameType == OBJECT_SCHEMA;
	}
	if (IsA(node, AlterObjectSchemaStmt))
		return ((AlterObjectSchemaStmt *) node)->objectType == OBJECT_TABLE;
	return false;
}

static void
gdpr_labels_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
						   bool readOnlyTree, ProcessUtilityContext context,
						   ParamListInfo params, QueryEnvironment *queryEnv,
						   DestReceiver *dest, QueryCompletion *qc)
{
	List	   *resolved = NIL;
	bool		track;

	/* labels stay in step even while the extension is not installed */
	track = is_rename_ddl(pstmt->utilityStmt) && IsTransactionState();
	if (track)
		resolved = resolve_all_table_labels();

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);

	if (resolved != NIL)
	{
		CommandCounterIncrement();
		rewrite_renamed_labels(resolved);
	}

	/* ALTER COLUMN TYPE must not take RETAIN FROM off date/timestamp */
	if (IsA(pstmt->utilityStmt, AlterTableStmt) && IsTransactionState() &&
		extension_ready())
	{
		AlterTableStmt *stmt = (AlterTableStmt *) pstmt->utilityStmt;
		Oid			relid;

		ListCell   *lc;

		CommandCounterIncrement();
		relid = RangeVarGetRelid(stmt->relation, NoLock, true);
		if (OidIsValid(relid))
			check_retain_from_type(relid);

		/*
		 * An attached partition follows its parent's labels; labels of its
		 * own would be silently ignored (and hidden from the views).
		 */
		foreach(lc, stmt->cmds)
		{
			AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
			Oid			part;

			if (cmd->subtype != AT_AttachPartition || !OidIsValid(relid) ||
				get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
				continue;
			part = RangeVarGetRelid(((PartitionCmd *) cmd->def)->name, NoLock, true);
			if (OidIsValid(part) && has_gdpr_labels(part))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("cannot attach \"%s\" as a partition: it has gdpr labels of its own",
								get_rel_name(part)),
						 errdetail("A partition follows the gdpr labels of its partitioned table."),
						 errhint("Remove its labels first (SECURITY LABEL FOR gdpr ON ... IS NULL) and label %s instead.",
								 gdpr_relation_name(relid))));
		}
	}
}

/*
 * Refuse to drop a column that a table label names (the label would point
 * at nothing; the retention clock or the subject key would be lost).
 */
static void
gdpr_labels_object_access(ObjectAccessType access, Oid classId,
						  Oid objectId, int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if (access == OAT_DROP && classId == RelationRelationId && subId > 0 &&
		IsTransactionState())
	{
		char	   *label = raw_table_label(objectId);
		GdprTableLabel *tl;
		const char *clause = NULL;
		char	   *attname;

		if (label == NULL || !extension_ready())
			return;
		attname = get_attname(objectId, subId, true);
		if (attname == NULL)
			return;
		tl = gdpr_parse_table_label(label);
		if (tl->subject_key && strcmp(tl->subject_key, attname) == 0)
			clause = "SUBJECT KEY";
		else if (tl->retain_from && strcmp(tl->retain_from, attname) == 0)
			clause = "RETAIN FROM";
		else if (tl->belongs_to_col && strcmp(tl->belongs_to_col, attname) == 0)
			clause = "BELONGS TO";
		if (clause)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot drop column \"%s\" of relation \"%s\": it is the %s column of its gdpr label",
							attname, get_rel_name(objectId), clause),
					 errdetail("Label: %s", label),
					 errhint("Change or remove the table label first (SECURITY LABEL FOR gdpr ON TABLE %s IS ...).",
							 gdpr_relation_name(objectId))));
	}
}

/* ----------------------------------------------------------------
 * SQL-callable
 * ----------------------------------------------------------------
 */

static Datum
purposes_array(List *purposes)
{
	Datum	   *elems = palloc(sizeof(Datum) * (list_length(purposes) + 1));
	ListCell   *lc;
	int			n = 0;

	foreach(lc, purposes)
		elems[n++] = CStringGetTextDatum(strVal(lfirst(lc)));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * gdpr._parse_label(rel regclass, subid int, label text,
 *	 OUT purposes text[], OUT category text, OUT subject_key name,
 *	 OUT retain_from name, OUT belongs_to regclass, OUT belongs_to_column name)
 *
 * The parsed form of a stored label (subid 0: table label).  Used by the
 * views gdpr.column_tags and gdpr.subject_tables.
 */
PG_FUNCTION_INFO_V1(gdpr_parse_label);
Datum
gdpr_parse_label(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6];
	Oid			relid;
	int32		subid;
	char	   *label;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	relid = PG_GETARG_OID(0);
	subid = PG_GETARG_INT32(1);
	label = text_to_cstring(PG_GETARG_TEXT_PP(2));

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	memset(nulls, true, sizeof(nulls));

	if (subid != 0)
	{
		GdprColumnLabel *cl = gdpr_parse_column_label(label);

		values[0] = purposes_array(cl->purposes);
		nulls[0] = false;
		if (cl->category)
		{
			values[1] = CStringGetTextDatum(cl->category);
			nulls[1] = false;
		}
	}
	else
	{
		GdprTableLabel *tl = gdpr_parse_table_label(label);

		if (tl->subject_key)
		{
			values[2] = DirectFunctionCall1(namein, CStringGetDatum(tl->subject_key));
			nulls[2] = false;
		}
		if (tl->retain_from)
		{
			values[3] = DirectFunctionCall1(namein, CStringGetDatum(tl->retain_from));
			nulls[3] = false;
		}
		if (tl->belongs_to_name)
		{
			Oid			target = resolve_belongs_to(tl->belongs_to_name, relid);

			if (OidIsValid(target))
			{
				values[4] = ObjectIdGetDatum(target);
				nulls[4] = false;
			}
			values[5] = DirectFunctionCall1(namein, CStringGetDatum(tl->belongs_to_col));
			nulls[5] = false;
		}
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * gdpr._table_tags(rel regclass) RETURNS TABLE(source regclass,
 *	 column_name name, purposes text[], category text)
 *
 * The column tags of rel as the tag cache of this backend has them
 * (partitions: their ancestor's tags, by the partition's own columns).
 */
PG_FUNCTION_INFO_V1(gdpr_table_tags_sql);
Datum
gdpr_table_tags_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = PG_GETARG_OID(0);
	const GdprTableTags *tags;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	tags = gdpr_table_tags(relid);
	if (tags == NULL)
		return (Datum) 0;
	for (i = 0; i < tags->ncolumns; i++)
	{
		const GdprColumnTag *ct = &tags->columns[i];
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		Datum	   *elems = palloc(sizeof(Datum) * (ct->npurposes + 1));
		int			k;
		char	   *attname = get_attname(relid, ct->attnum, false);

		for (k = 0; k < ct->npurposes; k++)
			elems[k] = CStringGetTextDatum(ct->purposes[k]);
		values[0] = ObjectIdGetDatum(tags->relid);
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(attname));
		values[2] = PointerGetDatum(construct_array(elems, ct->npurposes, TEXTOID,
													-1, false, TYPALIGN_INT));
		if (ct->category)
			values[3] = CStringGetTextDatum(ct->category);
		else
			nulls[3] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * gdpr._table_label(rel regclass) RETURNS TABLE(source regclass,
 *	 subject_key name, retain_from name, belongs_to regclass,
 *	 belongs_to_column name): the table label of rel per the tag cache; no
 *	 row when rel has no gdpr labels.
 */
PG_FUNCTION_INFO_V1(gdpr_table_label_sql);
Datum
gdpr_table_label_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = PG_GETARG_OID(0);
	const GdprTableTags *tags;
	Datum		values[5];
	bool		nulls[5] = {false, true, true, true, true};

	InitMaterializedSRF(fcinfo, 0);
	tags = gdpr_table_tags(relid);
	if (tags == NULL)
		return (Datum) 0;
	values[0] = ObjectIdGetDatum(tags->relid);
	if (tags->is_subject)
	{
		values[1] = DirectFunctionCall1(namein,
										CStringGetDatum(get_attname(relid, tags->subject_key, false)));
		nulls[1] = false;
	}
	if (tags->retain_from != InvalidAttrNumber)
	{
		values[2] = DirectFunctionCall1(namein,
										CStringGetDatum(get_attname(relid, tags->retain_from, false)));
		nulls[2] = false;
	}
	if (OidIsValid(tags->belongs_to))
	{
		values[3] = ObjectIdGetDatum(tags->belongs_to);
		values[4] = DirectFunctionCall1(namein,
										CStringGetDatum(get_attname(relid, tags->belongs_to_col, false)));
		nulls[3] = nulls[4] = false;
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* gdpr.categories() RETURNS SETOF text: the category taxonomy */
PG_FUNCTION_INFO_V1(gdpr_categories_sql);
Datum
gdpr_categories_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	for (i = 0; gdpr_categories[i] != NULL; i++)
	{
		Datum		value = CStringGetTextDatum(gdpr_categories[i]);
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	return (Datum) 0;
}
