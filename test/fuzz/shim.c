/*-------------------------------------------------------------------------
 *
 * shim.c
 *	  A minimal stand-in for the parts of the PostgreSQL backend that the
 *	  fuzzed gdpr_crm sources call (palloc, ereport, StringInfo, List,
 *	  identifier truncation, UTF-8 helpers), so the real parser code of
 *	  src/labels.c and src/consent.c runs in a plain libFuzzer process.
 *
 * Memory: every palloc is a separate malloc (so ASan sees overflows and
 * use-after-free of each chunk precisely) recorded in a list that
 * shim_reset() frees after each input: what the backend would release with
 * the memory context.  ereport(ERROR) longjmps back to the harness
 * (shim_catch); lower levels are formatted and dropped.
 *
 * The copies of backend helpers follow PostgreSQL 15 (scansup.c, mbutils.c
 * for UTF-8, stringinfo.c, list.c) closely enough for the parser's use;
 * they are not what is under test.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "nodes/pg_list.h"
#include "nodes/value.h"
#include "parser/scansup.h"
#include "utils/memutils.h"

#include "shim.h"

/* ---------------------------------------------------------------- memory */
static void **chunks;
static size_t nchunks;
static size_t maxchunks;

static void *
track(void *p)
{
	if (p == NULL)
		abort();
	if (nchunks == maxchunks)
	{
		maxchunks = maxchunks ? maxchunks * 2 : 1024;
		chunks = realloc(chunks, maxchunks * sizeof(void *));
		if (chunks == NULL)
			abort();
	}
	chunks[nchunks++] = p;
	return p;
}

static ssize_t
find_chunk(void *p)
{
	ssize_t		i;

	for (i = (ssize_t) nchunks - 1; i >= 0; i--)
		if (chunks[i] == p)
			return i;
	return -1;
}

void
shim_reset(void)
{
	size_t		i;

	for (i = 0; i < nchunks; i++)
		free(chunks[i]);
	nchunks = 0;
}

size_t
shim_live_chunks(void)
{
	return nchunks;
}

void *
palloc(Size size)
{
	if (!AllocSizeIsValid(size))
		shim_error("invalid memory alloc request size");
	return track(malloc(size ? size : 1));
}

void *
palloc0(Size size)
{
	if (!AllocSizeIsValid(size))
		shim_error("invalid memory alloc request size");
	return track(calloc(1, size ? size : 1));
}

void *
palloc_extended(Size size, int flags)
{
	return (flags & MCXT_ALLOC_ZERO) ? palloc0(size) : palloc(size);
}

void *
MemoryContextAlloc(MemoryContext context, Size size)
{
	return palloc(size);
}

void *
MemoryContextAllocZero(MemoryContext context, Size size)
{
	return palloc0(size);
}

void *
MemoryContextAllocZeroAligned(MemoryContext context, Size size)
{
	return palloc0(size);
}

void *
repalloc(void *pointer, Size size)
{
	ssize_t		i = find_chunk(pointer);
	void	   *n;

	if (i < 0)
		abort();				/* repalloc of memory not from palloc */
	if (!AllocSizeIsValid(size))
		shim_error("invalid memory alloc request size");
	n = realloc(pointer, size ? size : 1);
	if (n == NULL)
		abort();
	chunks[i] = n;
	return n;
}

void
pfree(void *pointer)
{
	ssize_t		i = find_chunk(pointer);

	if (i < 0)
		abort();				/* pfree of memory not from palloc */
	free(pointer);
	chunks[i] = chunks[--nchunks];
}

char *
pstrdup(const char *in)
{
	size_t		len = strlen(in);
	char	   *out = palloc(len + 1);

	memcpy(out, in, len + 1);
	return out;
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

char *
psprintf(const char *fmt,...)
{
	va_list		args;
	int			n;
	char	   *out;

	va_start(args, fmt);
	n = vsnprintf(NULL, 0, fmt, args);
	va_end(args);
	if (n < 0)
		abort();
	out = palloc(n + 1);
	va_start(args, fmt);
	vsnprintf(out, n + 1, fmt, args);
	va_end(args);
	return out;
}

/* ---------------------------------------------------------------- ereport */
sigjmp_buf *shim_catch;
int			shim_last_elevel;
int			shim_last_sqlstate;
char		shim_last_message[1024];
static int	cur_elevel;

void
shim_error(const char *msg)
{
	shim_last_elevel = ERROR;
	snprintf(shim_last_message, sizeof(shim_last_message), "%s", msg);
	if (shim_catch == NULL)
		abort();
	siglongjmp(*shim_catch, 1);
}

bool
errstart(int elevel, const char *domain)
{
	cur_elevel = elevel;
	shim_last_sqlstate = 0;
	shim_last_message[0] = '\0';
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

int
errcode(int sqlerrcode)
{
	shim_last_sqlstate = sqlerrcode;
	return 0;
}

/* format every part, so a wrong format string or argument shows up */
static void
format_part(char *dst, size_t dstlen, const char *fmt, va_list args)
{
	int			n = vsnprintf(dst, dstlen, fmt, args);

	if (n < 0)
		abort();
}

int
errmsg(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	format_part(shim_last_message, sizeof(shim_last_message), fmt, args);
	va_end(args);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	format_part(shim_last_message, sizeof(shim_last_message), fmt, args);
	va_end(args);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	char		buf[1024];
	va_list		args;

	va_start(args, fmt);
	format_part(buf, sizeof(buf), fmt, args);
	va_end(args);
	return 0;
}

int
errhint(const char *fmt,...)
{
	char		buf[1024];
	va_list		args;

	va_start(args, fmt);
	format_part(buf, sizeof(buf), fmt, args);
	va_end(args);
	return 0;
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	shim_last_elevel = cur_elevel;
	if (cur_elevel >= ERROR)
	{
		if (shim_last_sqlstate == 0)
			abort();			/* every gdpr error must carry an errcode */
		if (shim_catch == NULL)
			abort();
		siglongjmp(*shim_catch, 1);
	}
}

/* elog(ERROR, ...) */
void
elog_start(const char *filename, int lineno, const char *funcname)
{
}

void
elog_finish(int elevel, const char *fmt,...)
{
	shim_error(fmt);
}

/* ---------------------------------------------------------------- UTF-8 */
int
pg_mblen(const char *mbstr)
{
	unsigned char c = (unsigned char) *mbstr;

	if ((c & 0x80) == 0)
		return 1;
	if ((c & 0xe0) == 0xc0)
		return 2;
	if ((c & 0xf0) == 0xe0)
		return 3;
	if ((c & 0xf8) == 0xf0)
		return 4;
	return 1;
}

int
pg_mbstrlen_with_len(const char *mbstr, int limit)
{
	int			len = 0;

	while (limit > 0 && *mbstr)
	{
		int			l = pg_mblen(mbstr);

		limit -= l;
		mbstr += l;
		len++;
	}
	return len;
}

int
pg_mbcliplen(const char *mbstr, int len, int limit)
{
	int			clen = 0;
	int			l;

	while (len > 0 && *mbstr)
	{
		l = pg_mblen(mbstr);
		if ((clen + l) > limit)
			break;
		clen += l;
		if (clen == limit)
			break;
		len -= l;
		mbstr += l;
	}
	return clen;
}

int
GetDatabaseEncoding(void)
{
	return PG_UTF8;
}

bool
shim_valid_utf8(const unsigned char *s, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = s[i];
		int			n;
		uint32		cp;

		if (c == 0)
			return false;		/* text never contains NUL */
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			n = 2, cp = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			n = 3, cp = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			n = 4, cp = c & 0x07;
		else
			return false;
		if (i + n > len)
			return false;
		for (int k = 1; k < n; k++)
		{
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
			(n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
			(cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}

/* ---------------------------------------------------------------- scansup.c */
bool
scanner_isspace(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f';
}

void
truncate_identifier(char *ident, int len, bool warn)
{
	if (len >= NAMEDATALEN)
	{
		len = pg_mbcliplen(ident, len, NAMEDATALEN - 1);
		if (warn)
			ereport(NOTICE,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("identifier \"%s\" will be truncated to \"%.*s\"",
							ident, len, ident)));
		ident[len] = '\0';
	}
}

char *
downcase_identifier(const char *ident, int len, bool warn, bool truncate)
{
	char	   *result = palloc(len + 1);
	int			i;

	for (i = 0; i < len; i++)
	{
		unsigned char ch = (unsigned char) ident[i];

		if (ch >= 'A' && ch <= 'Z')
			ch += 'a' - 'A';
		result[i] = (char) ch;
	}
	result[i] = '\0';
	if (i >= NAMEDATALEN && truncate)
		truncate_identifier(result, i, warn);
	return result;
}

char *
downcase_truncate_identifier(const char *ident, int len, bool warn)
{
	return downcase_identifier(ident, len, warn, true);
}

/* ---------------------------------------------------------------- stringinfo.c */
void
initStringInfo(StringInfo str)
{
	str->maxlen = 1024;
	str->data = palloc(str->maxlen);
	resetStringInfo(str);
}

StringInfo
makeStringInfo(void)
{
	StringInfo	res = palloc(sizeof(StringInfoData));

	initStringInfo(res);
	return res;
}

void
resetStringInfo(StringInfo str)
{
	str->data[0] = '\0';
	str->len = 0;
	str->cursor = 0;
}

void
enlargeStringInfo(StringInfo str, int needed)
{
	int			newlen;

	if (needed < 0 || ((Size) needed) >= (MaxAllocSize - (Size) str->len))
		shim_error("out of memory: string buffer");
	needed += str->len + 1;
	if (needed <= str->maxlen)
		return;
	newlen = 2 * str->maxlen;
	while (needed > newlen)
		newlen = 2 * newlen;
	if (newlen > (int) MaxAllocSize)
		newlen = (int) MaxAllocSize;
	str->data = repalloc(str->data, newlen);
	str->maxlen = newlen;
}

void
appendBinaryStringInfo(StringInfo str, const char *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
	str->data[str->len] = '\0';
}

void
appendStringInfoString(StringInfo str, const char *s)
{
	appendBinaryStringInfo(str, s, strlen(s));
}

void
appendStringInfoChar(StringInfo str, char ch)
{
	if (str->len + 1 >= str->maxlen)
		enlargeStringInfo(str, 1);
	str->data[str->len] = ch;
	str->len++;
	str->data[str->len] = '\0';
}

void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	for (;;)
	{
		va_list		args;
		int			avail = str->maxlen - str->len;
		int			n;

		va_start(args, fmt);
		n = vsnprintf(str->data + str->len, avail, fmt, args);
		va_end(args);
		if (n < 0)
			abort();
		if (n < avail)
		{
			str->len += n;
			return;
		}
		str->data[str->len] = '\0';
		enlargeStringInfo(str, n);
	}
}

/* ---------------------------------------------------------------- list.c, value.c */
static List *
new_list(NodeTag type, int min_size)
{
	int			max_size = Max(min_size, 5);
	List	   *l = palloc(offsetof(List, initial_elements) + max_size * sizeof(ListCell));

	l->type = type;
	l->length = min_size;
	l->max_length = max_size;
	l->elements = l->initial_elements;
	return l;
}

List *
list_make1_impl(NodeTag t, ListCell datum1)
{
	List	   *l = new_list(t, 1);

	l->elements[0] = datum1;
	return l;
}

List *
lappend(List *list, void *datum)
{
	if (list == NIL)
		list = new_list(T_List, 1);
	else
	{
		if (list->length >= list->max_length)
		{
			int			newmax = list->max_length * 2;
			ListCell   *n = palloc(newmax * sizeof(ListCell));

			memcpy(n, list->elements, list->length * sizeof(ListCell));
			if (list->elements != list->initial_elements)
				pfree(list->elements);
			list->elements = n;
			list->max_length = newmax;
		}
		list->length++;
	}
	lfirst(&list->elements[list->length - 1]) = datum;
	return list;
}

String *
makeString(char *str)
{
	String	   *v = palloc0(sizeof(String));

	v->type = T_String;
	v->sval = str;
	return v;
}
