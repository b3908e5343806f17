/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The tamper-evident audit log (API section 7), the per-database secret
 *	  and subject_ref().
 *
 * gdpr_audit_append() only queues an entry in the current transaction (in
 * TopTransactionContext, tagged with the subtransaction nesting level, so a
 * rolled back subtransaction drops its own entries).  At PRE_COMMIT the
 * queued entries are written: under a short exclusive lock (an object lock on
 * gdpr.audit_log, held from pre-commit to the end of the commit) the head of
 * the chain is read, and the entries get the next ids and are chained with
 * SHA-256.  Because the lock is released only after the commit has become
 * visible, the next appender always sees the previous head: the chain is
 * built in commit order, has no gaps, and a transaction that rolls back
 * leaves nothing.  Only committing transactions that wrote audit entries
 * serialize, and only for the few microseconds of their commit.
 *
 * The hash of an entry is SHA-256 over a length-prefixed canonical
 * serialisation that depends on neither OIDs nor DateStyle/TimeZone (see
 * audit_hash_entry() and docs/audit.md), so it survives dump/restore and
 * can be recomputed outside the database.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sched.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/relation.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/sha2.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "gdpr.h"
#include "audit.h"
#include "digest.h"
#include "tags.h"

#define GDPR_HASH_LEN		PG_SHA256_DIGEST_LENGTH
#define GDPR_SECRET_LEN		32
#define GDPR_SUBJECT_REF_LEN	(2 * GDPR_HASH_LEN)

/* conditional attempts at the chain lock before sleeping on it */
static int	audit_lock_spins = 50;

/* domain separation tag of the canonical entry serialisation */
#define AUDIT_HASH_TAG		"gdpr_crm.audit.v1"

/* columns of gdpr.audit_log */
#define Anum_audit_id			1
#define Anum_audit_at			2
#define Anum_audit_actor		3
#define Anum_audit_action		4
#define Anum_audit_subject_ref	5
#define Anum_audit_relation		6
#define Anum_audit_details		7
#define Anum_audit_prev_hash	8
#define Anum_audit_hash			9
#define Anum_audit_relation_name 10
#define Natts_audit				10

static const struct
{
	const char *name;
	Oid			type;
}			audit_columns[Natts_audit] =
{
	{"id", INT8OID},
	{"at", TIMESTAMPTZOID},
	{"actor", NAMEOID},
	{"action", TEXTOID},
	{"subject_ref", TEXTOID},
	{"relation", REGCLASSOID},
	{"details", JSONBOID},
	{"prev_hash", BYTEAOID},
	{"hash", BYTEAOID},
	{"relation_name", TEXTOID},
};

/* the audit actions of API section 11 */
static const char *const audit_actions[] = {
	"purpose.define", "purpose.drop",
	"tag.set", "tag.remove",
	"consent.grant", "consent.withdraw",
	"view.create", "view.drop",
	"erase", "expire", "export",
	"request.open", "request.extend", "request.complete",
	"processor.register",
	"breach.report", "breach.notify",
	NULL
};

/* an entry queued in the current transaction */
typedef struct PendingEntry
{
	int			nestlevel;		/* subtransaction that queued it */
	TimestampTz at;
	Oid			actor_oid;
	Name		actor;			/* shared by consecutive entries of one role */
	const char *action;			/* points into audit_actions[] */
	char	   *subject_ref;	/* NULL when none */
	Oid			relid;			/* InvalidOid when none */
	char	   *relation_name;	/* NULL when none */
	Jsonb	   *details;		/* NULL when none */
} PendingEntry;

static List *pending_entries = NIL;		/* in TopTransactionContext */
static bool audit_written = false;	/* this commit already wrote the log */
static Oid	chain_locked = InvalidOid;	/* audit_log whose chain lock we hold */

/*
 * The last id this backend wrote: where to start looking for the head of
 * the chain next time (a hint; the rows themselves are read, see
 * audit_read_head_after()).
 */
static Oid	head_hint_relid = InvalidOid;
static int64 head_hint_id = 0;

/* rows after the hint read before falling back to the backward scan */
#define AUDIT_HINT_MAX_ROWS 16

/* per-backend cache of the secret */
static bool secret_valid = false;
static Oid	secret_relid = InvalidOid;
static uint8 secret_cache[GDPR_SECRET_LEN];

static void audit_xact_callback(XactEvent event, void *arg);
static void audit_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								   SubTransactionId parentSubid, void *arg);
static void audit_relcache_callback(Datum arg, Oid relid);
static void audit_write_pending(void);

void
gdpr_audit_init(void)
{
	DefineCustomIntVariable("gdpr.audit_lock_spins",
							"Attempts at the audit chain lock before sleeping on it.",
							"Each failed attempt yields the CPU; 0 sleeps at once.",
							&audit_lock_spins,
							50, 0, 10000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	RegisterXactCallback(audit_xact_callback, NULL);
	RegisterSubXactCallback(audit_subxact_callback, NULL);
	CacheRegisterRelcacheCallback(audit_relcache_callback, (Datum) 0);
}

static void
audit_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == secret_relid)
		secret_valid = false;
}

/* ----------------------------------------------------------------
 * Hashing helpers
 * ----------------------------------------------------------------
 */

static void
buf_append_int64(StringInfo buf, int64 v)
{
	uint64		be = pg_hton64((uint64) v);

	appendBinaryStringInfo(buf, (char *) &be, sizeof(be));
}

/* length-prefixed string; NULL is distinct from the empty string */
static void
buf_append_str(StringInfo buf, const char *s, int len)
{
	uint32		be;

	if (s == NULL)
	{
		appendStringInfoChar(buf, 0);
		return;
	}
	appendStringInfoChar(buf, 1);
	be = pg_hton32((uint32) len);
	appendBinaryStringInfo(buf, (char *) &be, sizeof(be));
	appendBinaryStringInfo(buf, s, len);
}

/*
 * The hash of one entry: SHA-256 over
 *   tag "gdpr_crm.audit.v1" 0x00, id (int64 BE), at (int64 BE microseconds
 *   since 2000-01-01 UTC), actor, action, subject_ref, relation_name,
 *   details (jsonb text form), each as 0x00 (NULL) or 0x01 + uint32 BE
 *   length + bytes, and finally the 32 bytes of prev_hash.
 */
static void
audit_hash_entry(StringInfo buf,
				 int64 id, TimestampTz at, const char *actor,
				 const char *action, const char *subject_ref,
				 const char *relation_name, const char *details, int detailslen,
				 const uint8 *prev_hash, uint8 *out)
{
	resetStringInfo(buf);
	appendBinaryStringInfo(buf, AUDIT_HASH_TAG, sizeof(AUDIT_HASH_TAG));	/* with NUL */
	buf_append_int64(buf, id);
	buf_append_int64(buf, (int64) at);
	buf_append_str(buf, actor, strlen(actor));
	buf_append_str(buf, action, strlen(action));
	buf_append_str(buf, subject_ref, subject_ref ? strlen(subject_ref) : 0);
	buf_append_str(buf, relation_name, relation_name ? strlen(relation_name) : 0);
	buf_append_str(buf, details, detailslen);
	appendBinaryStringInfo(buf, (const char *) prev_hash, GDPR_HASH_LEN);

	gdpr_sha256((uint8 *) buf->data, buf->len, out);
}

static bytea *
make_bytea(const uint8 *data, int len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

/* ----------------------------------------------------------------
 * The secret
 * ----------------------------------------------------------------
 */

const unsigned char *
gdpr_secret(int *len)
{
	if (!secret_valid)
	{
		Oid			relid = gdpr_table_oid("secret", false);
		Relation	rel;
		TableScanDesc scan;
		HeapTuple	tuple;
		AttrNumber	attnum;
		bool		found = false;

		secret_relid = relid;
		rel = table_open(relid, AccessShareLock);
		attnum = get_attnum(relid, "secret");
		if (attnum == InvalidAttrNumber ||
			TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid != BYTEAOID)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table gdpr.secret has been altered"),
					 errhint("Reinstall the extension.")));

		/*
		 * SnapshotSelf: committed rows and our own, without needing a
		 * registered MVCC snapshot (this also runs in parallel workers).
		 */
		scan = table_beginscan(rel, SnapshotSelf, 0, NULL);
		while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
		{
			bool		isnull;
			Datum		d = heap_getattr(tuple, attnum, RelationGetDescr(rel), &isnull);
			bytea	   *b;

			if (isnull)
				continue;
			b = DatumGetByteaPP(d);
			if (VARSIZE_ANY_EXHDR(b) != GDPR_SECRET_LEN)
				continue;
			memcpy(secret_cache, VARDATA_ANY(b), GDPR_SECRET_LEN);
			found = true;
			break;
		}
		table_endscan(scan);
		table_close(rel, AccessShareLock);

		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the gdpr_crm secret of this database is missing"),
					 errdetail("Table gdpr.secret must hold one 32-byte secret."),
					 errhint("Restore it from a backup; a new secret (INSERT INTO gdpr.secret(secret) VALUES (gen_random_bytes(32))) invalidates every subject_ref and consent token.")));
		secret_valid = true;
	}
	*len = GDPR_SECRET_LEN;
	return secret_cache;
}

void
gdpr_hmac(const unsigned char *data, size_t len, unsigned char *out)
{
	int			keylen;
	const unsigned char *key = gdpr_secret(&keylen);

	gdpr_hmac_sha256(key, keylen, data, len, out);
}

/* ----------------------------------------------------------------
 * subject_ref
 * ----------------------------------------------------------------
 */

/*
 * The column that holds a subject's key: the SUBJECT KEY tag, else a
 * one-column primary key.  *relid becomes the labelled relation (a partition
 * is referenced as its labelled partitioned parent).
 */
static AttrNumber
subject_key_column(Oid *relidp)
{
	Oid			relid = *relidp;
	const GdprTableTags *tags = gdpr_table_tags(relid);
	AttrNumber	attnum = InvalidAttrNumber;
	Relation	rel;
	Oid			pkoid;

	if (tags != NULL && tags->is_subject && tags->subject_key != InvalidAttrNumber)
	{
		/* subject_key is an attnum of the labelled relation */
		if (OidIsValid(tags->relid))
			*relidp = tags->relid;
		return tags->subject_key;
	}

	rel = relation_open(relid, AccessShareLock);
	pkoid = RelationGetPrimaryKeyIndex(rel);
	if (OidIsValid(pkoid))
	{
		HeapTuple	itup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pkoid));

		if (HeapTupleIsValid(itup))
		{
			Form_pg_index idx = (Form_pg_index) GETSTRUCT(itup);

			if (idx->indnkeyatts == 1 && idx->indkey.values[0] != 0)
				attnum = idx->indkey.values[0];
			ReleaseSysCache(itup);
		}
	}
	relation_close(rel, AccessShareLock);
	return attnum;
}

char *
gdpr_subject_ref(Oid subject_relid, Datum key, Oid keytype)
{
	AttrNumber	attnum = subject_key_column(&subject_relid);
	char	   *relname = gdpr_relation_name(subject_relid);
	char	   *keytext;

	if (attnum != InvalidAttrNumber)
	{
		Oid			typid;
		int32		typmod;
		Oid			collid;

		get_atttypetypmodcoll(subject_relid, attnum, &typid, &typmod, &collid);
		key = gdpr_coerce_key(key, keytype, typid, typmod);
		keytype = typid;
	}
	keytext = gdpr_key_text(key, keytype);
	return gdpr_subject_ref_text(relname, keytext);
}

char *
gdpr_subject_ref_text(const char *relname, const char *keytext)
{
	StringInfoData buf;
	uint8		mac[GDPR_HASH_LEN];
	char	   *hex;

	initStringInfo(&buf);
	appendStringInfoString(&buf, relname);
	appendStringInfoChar(&buf, '\0');
	appendStringInfoString(&buf, keytext);
	gdpr_hmac((unsigned char *) buf.data, buf.len, mac);
	pfree(buf.data);

	hex = palloc(GDPR_SUBJECT_REF_LEN + 1);
	hex_encode((char *) mac, GDPR_HASH_LEN, hex);
	hex[GDPR_SUBJECT_REF_LEN] = '\0';
	return hex;
}

PG_FUNCTION_INFO_V1(gdpr_subject_ref_sql);
Datum
gdpr_subject_ref_sql(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid			keytype = get_fn_expr_argtype(fcinfo->flinfo, 1);

	if (!OidIsValid(keytype))
		ereport(ERROR,
				(errcode(ERRCODE_INDETERMINATE_DATATYPE),
				 errmsg("could not determine the type of the subject key")));
	if (keytype == UNKNOWNOID)
	{
		/* an untyped literal: take its text form */
		char	   *s = DatumGetCString(PG_GETARG_DATUM(1));

		PG_RETURN_TEXT_P(cstring_to_text(gdpr_subject_ref(relid, CStringGetTextDatum(s), TEXTOID)));
	}
	PG_RETURN_TEXT_P(cstring_to_text(gdpr_subject_ref(relid, PG_GETARG_DATUM(1), keytype)));
}

/* ----------------------------------------------------------------
 * Appending
 * ----------------------------------------------------------------
 */

static const char *
check_action(const char *action)
{
	int			i;
	StringInfoData allowed;

	for (i = 0; audit_actions[i] != NULL; i++)
		if (strcmp(action, audit_actions[i]) == 0)
			return audit_actions[i];

	initStringInfo(&allowed);
	for (i = 0; audit_actions[i] != NULL; i++)
		appendStringInfo(&allowed, "%s%s", i > 0 ? ", " : "", audit_actions[i]);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown audit action \"%s\"", action),
			 errhint("Allowed actions: %s.", allowed.data)));
	return NULL;				/* keep the compiler quiet */
}

static void
check_subject_ref(const char *ref)
{
	int			i;
	bool		ok = strlen(ref) == GDPR_SUBJECT_REF_LEN;

	for (i = 0; ok && ref[i] != '\0'; i++)
		if (!((ref[i] >= '0' && ref[i] <= '9') || (ref[i] >= 'a' && ref[i] <= 'f')))
			ok = false;
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid subject_ref for the audit log"),
				 errdetail("A subject_ref is 64 lower-case hex digits."),
				 errhint("Pass gdpr.subject_ref(subject, key), never the key itself.")));
}

void
gdpr_audit_append(const char *action, const char *subject_ref,
				  Oid relid, Jsonb *details)
{
	MemoryContext oldcxt;
	PendingEntry *e;
	PendingEntry *last = pending_entries ? llast(pending_entries) : NULL;
	char	   *actor;

	if (action == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("audit action must not be NULL")));
	action = check_action(action);
	if (subject_ref != NULL)
		check_subject_ref(subject_ref);
	if (IsParallelWorker())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("cannot write audit entries in a parallel worker")));
	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot write audit entry \"%s\" in a read-only transaction", action),
				 errdetail("Every %s is recorded in gdpr.audit_log.", action),
				 errhint("Run it in a read-write transaction on the primary.")));
	if (audit_written)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("cannot append audit entry \"%s\": the audit log of this transaction was already written", action),
				 errdetail("Entries appended during commit processing cannot be chained.")));
	/* fail now, not at commit, when the extension is missing */
	(void) gdpr_table_oid("audit_log", false);

	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	e = palloc0(sizeof(PendingEntry));
	e->nestlevel = GetCurrentTransactionNestLevel();
	e->at = GetCurrentTimestamp();

	/*
	 * The actor is the role outside any SECURITY DEFINER function (the
	 * capabilities' SQL functions run as the extension owner).
	 */
	if (last != NULL && last->actor_oid == GetOuterUserId())
		e->actor = last->actor;
	else
	{
		actor = GetUserNameFromId(GetOuterUserId(), true);
		e->actor = palloc(NAMEDATALEN);
		namestrcpy(e->actor, actor ? actor : "?");
	}
	e->actor_oid = GetOuterUserId();
	e->action = action;
	e->subject_ref = subject_ref ? pstrdup(subject_ref) : NULL;
	if (OidIsValid(relid))
	{
		e->relid = relid;
		if (last != NULL && last->relid == relid)
			e->relation_name = last->relation_name;
		else
			e->relation_name = gdpr_relation_name(relid);
	}
	if (details != NULL)
	{
		e->details = palloc(VARSIZE(details));
		memcpy(e->details, details, VARSIZE(details));
	}
	pending_entries = lappend(pending_entries, e);
	MemoryContextSwitchTo(oldcxt);
}

PG_FUNCTION_INFO_V1(gdpr_audit_sql);
Datum
gdpr_audit_sql(PG_FUNCTION_ARGS)
{
	GDPR_REQUIRE_ARG(0, "action");
	gdpr_audit_append(text_to_cstring(PG_GETARG_TEXT_PP(0)),
					  PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)),
					  PG_ARGISNULL(2) ? InvalidOid : PG_GETARG_OID(2),
					  PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3));
	PG_RETURN_VOID();
}

static void
audit_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (pending_entries != NIL)
				audit_write_pending();
			audit_written = true;
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (pending_entries != NIL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that wrote gdpr_crm audit entries"),
						 errdetail("Audit entries are chained at commit; a prepared transaction would hold the chain until COMMIT PREPARED."),
						 errhint("Run GDPR operations in an ordinary transaction.")));
			break;
		case XACT_EVENT_COMMIT:

			/*
			 * The commit is visible now (this runs after
			 * ProcArrayEndTransaction): let the next appender in without
			 * waiting for the rest of the resource cleanup.
			 */
			if (OidIsValid(chain_locked))
				UnlockDatabaseObject(RelationRelationId, chain_locked, 0, ExclusiveLock);
			chain_locked = InvalidOid;
			pending_entries = NIL;
			audit_written = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* the list lived in TopTransactionContext */
			pending_entries = NIL;
			audit_written = false;
			chain_locked = InvalidOid;	/* released with all locks */
			break;
		default:
			break;
	}
}

static void
audit_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	int			level;
	ListCell   *lc;

	if (pending_entries == NIL)
		return;
	level = GetCurrentTransactionNestLevel();
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		/* entries of this subtransaction and deeper ones form the tail */
		int			keep = 0;

		foreach(lc, pending_entries)
		{
			PendingEntry *e = lfirst(lc);

			if (e->nestlevel >= level)
				break;
			keep++;
		}
		pending_entries = list_truncate(pending_entries, keep);
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, pending_entries)
		{
			PendingEntry *e = lfirst(lc);

			if (e->nestlevel >= level)
				e->nestlevel = level - 1;
		}
	}
}

/* error unless gdpr.audit_log has the columns this code expects */
static void
check_audit_tupdesc(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < Natts_audit; i++)
	{
		Form_pg_attribute att;

		if (i >= desc->natts)
			break;
		att = TupleDescAttr(desc, i);
		if (att->attisdropped || att->atttypid != audit_columns[i].type ||
			strcmp(NameStr(att->attname), audit_columns[i].name) != 0)
			break;
	}
	if (i < Natts_audit)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table gdpr.audit_log has been altered"),
				 errdetail("Column %d should be \"%s\".", i + 1, audit_columns[i].name),
				 errhint("The audit log's columns must not be changed.")));
}

static Oid
audit_pk_index(Relation rel)
{
	Oid			pkoid = RelationGetPrimaryKeyIndex(rel);

	if (!OidIsValid(pkoid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table gdpr.audit_log has no primary key"),
				 errhint("The audit log needs its primary key on id; reinstall or recreate it.")));
	return pkoid;
}

/* id and hash of an audit row */
static void
audit_head_values(Relation rel, HeapTuple tup, int64 *id, uint8 *hash)
{
	bool		isnull;
	Datum		d;
	bytea	   *h;

	d = heap_getattr(tup, Anum_audit_id, RelationGetDescr(rel), &isnull);
	*id = DatumGetInt64(d);
	d = heap_getattr(tup, Anum_audit_hash, RelationGetDescr(rel), &isnull);
	h = DatumGetByteaPP(d);
	if (VARSIZE_ANY_EXHDR(h) == GDPR_HASH_LEN)
		memcpy(hash, VARDATA_ANY(h), GDPR_HASH_LEN);
	else
		memset(hash, 0xff, GDPR_HASH_LEN);	/* verify will report it */
}

/*
 * Read the head of the chain (id and hash of the newest entry).  Called
 * under the chain lock, so every earlier appender has committed; SnapshotSelf
 * sees them without an MVCC snapshot (and without SSI predicate locks).
 */
static bool
audit_read_head(Relation rel, Relation idx, Snapshot snapshot,
				int64 *id, uint8 *hash)
{
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	scan = systable_beginscan_ordered(rel, idx, snapshot, 0, NULL);
	tup = systable_getnext_ordered(scan, BackwardScanDirection);
	if (HeapTupleIsValid(tup))
	{
		audit_head_values(rel, tup, id, hash);
		found = true;
	}
	systable_endscan_ordered(scan);
	return found;
}

/*
 * The head of the chain found by a forward scan from the row with id
 * "from" (normally the last one this backend wrote): cheaper than the
 * backward scan of audit_read_head(), which reads a whole leaf page.  False
 * when no visible row has an id >= from (that row was rolled back) or when
 * more than AUDIT_HINT_MAX_ROWS rows were written since by others.
 */
static bool
audit_read_head_after(Relation rel, Relation idx, Snapshot snapshot,
					  int64 from, int64 *id, uint8 *hash)
{
	SysScanDesc scan;
	HeapTuple	tup;
	ScanKeyData key;
	int			n = 0;

	ScanKeyInit(&key, Anum_audit_id, BTGreaterEqualStrategyNumber, F_INT8GE,
				Int64GetDatum(from));
	scan = systable_beginscan_ordered(rel, idx, snapshot, 1, &key);
	while (n <= AUDIT_HINT_MAX_ROWS &&
		   (tup = systable_getnext_ordered(scan, ForwardScanDirection)) != NULL)
	{
		audit_head_values(rel, tup, id, hash);
		n++;
	}
	systable_endscan_ordered(scan);
	return n > 0 && n <= AUDIT_HINT_MAX_ROWS;
}

/*
 * Take the chain lock.  It is held for a few microseconds per commit, so a
 * waiter first retries briefly, yielding the CPU (the holder may be waiting
 * for it), before it goes to sleep in the lock manager: a sleeping waiter
 * needs a wakeup and a reschedule, which costs more than the whole locked
 * section.
 */
static void
audit_chain_lock(Oid relid)
{
	int			i;

	for (i = 0; i < audit_lock_spins; i++)
	{
		if (ConditionalLockDatabaseObject(RelationRelationId, relid, 0, ExclusiveLock))
			return;
		sched_yield();
	}
	LockDatabaseObject(RelationRelationId, relid, 0, ExclusiveLock);
}

static void
audit_write_pending(void)
{
	Oid			relid = gdpr_table_oid("audit_log", true);
	Relation	rel;
	Relation	idx;
	TupleDesc	desc;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	StringInfoData buf;
	int64		id = 0;
	uint8		prev[GDPR_HASH_LEN];
	ListCell   *lc;
	List	   *entries = pending_entries;
	int			n = list_length(entries);
	int			i;
	char	  **details;
	bool	   *relvalid;

	pending_entries = NIL;
	if (!OidIsValid(relid))
	{
		/* DROP EXTENSION in this very transaction */
		ereport(WARNING,
				(errmsg("gdpr_crm audit entries discarded: gdpr.audit_log was dropped")));
		return;
	}

	/*
	 * Everything that does not depend on the head of the chain is done
	 * before taking the chain lock, so that the locked section is only: read
	 * the head, hash, insert, commit.
	 */
	rel = table_open(relid, RowExclusiveLock);
	check_audit_tupdesc(rel);
	desc = RelationGetDescr(rel);
	idx = index_open(audit_pk_index(rel), AccessShareLock);

	PushActiveSnapshot(GetTransactionSnapshot());
	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	slot = table_slot_create(rel, NULL);

	initStringInfo(&buf);

	details = palloc0(n * sizeof(char *));
	relvalid = palloc0(n * sizeof(bool));
	i = 0;
	foreach(lc, entries)
	{
		PendingEntry *e = lfirst(lc);

		if (e->details != NULL)
			details[i] = JsonbToCString(NULL, &e->details->root, VARSIZE(e->details));
		/* a relation dropped later in the transaction keeps only its name */
		relvalid[i] = OidIsValid(e->relid) &&
			SearchSysCacheExists1(RELOID, ObjectIdGetDatum(e->relid));
		i++;
	}

	/*
	 * The chain lock: an object lock on the audit log (not the relation lock,
	 * which would conflict with autovacuum and with readers' locks), released
	 * at the end of the commit, after the commit has become visible.
	 */
	audit_chain_lock(relid);
	chain_locked = relid;

	memset(prev, 0, GDPR_HASH_LEN);
	if (!(head_hint_relid == relid &&
		  audit_read_head_after(rel, idx, SnapshotSelf, head_hint_id, &id, prev)))
		(void) audit_read_head(rel, idx, SnapshotSelf, &id, prev);

	i = 0;
	foreach(lc, entries)
	{
		PendingEntry *e = lfirst(lc);
		Datum	   *values = slot->tts_values;
		bool	   *nulls = slot->tts_isnull;
		uint8		hash[GDPR_HASH_LEN];
		MemoryContext oldcxt;

		/* the datums of one row live until the row is inserted */
		oldcxt = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
		id++;
		audit_hash_entry(&buf, id, e->at, NameStr(*e->actor), e->action,
						 e->subject_ref, e->relation_name,
						 details[i], details[i] ? strlen(details[i]) : 0,
						 prev, hash);

		ExecClearTuple(slot);
		memset(nulls, true, desc->natts * sizeof(bool));
		values[Anum_audit_id - 1] = Int64GetDatum(id);
		values[Anum_audit_at - 1] = TimestampTzGetDatum(e->at);
		values[Anum_audit_actor - 1] = NameGetDatum(e->actor);
		values[Anum_audit_action - 1] = CStringGetTextDatum(e->action);
		values[Anum_audit_prev_hash - 1] = PointerGetDatum(make_bytea(prev, GDPR_HASH_LEN));
		values[Anum_audit_hash - 1] = PointerGetDatum(make_bytea(hash, GDPR_HASH_LEN));
		nulls[Anum_audit_id - 1] = nulls[Anum_audit_at - 1] =
			nulls[Anum_audit_actor - 1] = nulls[Anum_audit_action - 1] =
			nulls[Anum_audit_prev_hash - 1] = nulls[Anum_audit_hash - 1] = false;
		if (e->subject_ref)
		{
			values[Anum_audit_subject_ref - 1] = CStringGetTextDatum(e->subject_ref);
			nulls[Anum_audit_subject_ref - 1] = false;
		}
		if (relvalid[i])
		{
			values[Anum_audit_relation - 1] = ObjectIdGetDatum(e->relid);
			nulls[Anum_audit_relation - 1] = false;
		}
		if (e->details)
		{
			values[Anum_audit_details - 1] = JsonbPGetDatum(e->details);
			nulls[Anum_audit_details - 1] = false;
		}
		if (e->relation_name)
		{
			values[Anum_audit_relation_name - 1] = CStringGetTextDatum(e->relation_name);
			nulls[Anum_audit_relation_name - 1] = false;
		}
		/* columns added after ours (none expected) stay NULL */
		ExecStoreVirtualTuple(slot);

		simple_table_tuple_insert(rel, slot);
		if (rri->ri_NumIndices > 0)
			(void) ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL);
		MemoryContextSwitchTo(oldcxt);
		ResetPerTupleExprContext(estate);

		memcpy(prev, hash, GDPR_HASH_LEN);
		i++;
	}

	head_hint_relid = relid;
	head_hint_id = id;

	ExecDropSingleTupleTableSlot(slot);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	PopActiveSnapshot();
	index_close(idx, AccessShareLock);
	table_close(rel, NoLock);
}

/* ----------------------------------------------------------------
 * Append-only enforcement
 * ----------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(gdpr_audit_log_refuse);
Datum
gdpr_audit_log_refuse(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *what;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("gdpr._audit_log_refuse() must be called as a trigger")));

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		what = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		what = "DELETE";
	else if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		what = "TRUNCATE";
	else
		what = "this change";

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("gdpr.audit_log is append-only: %s is not allowed", what),
			 errdetail("Audit entries cannot be changed or removed by any role, the owner included."),
			 errhint("Entries are written by gdpr_crm at commit; check the chain with gdpr.verify_audit().")));
	PG_RETURN_NULL();
}

/* ----------------------------------------------------------------
 * Verification
 * ----------------------------------------------------------------
 */

static bool
hash_equal(Datum d, const uint8 *h)
{
	bytea	   *b = DatumGetByteaPP(d);

	return VARSIZE_ANY_EXHDR(b) == GDPR_HASH_LEN &&
		memcmp(VARDATA_ANY(b), h, GDPR_HASH_LEN) == 0;
}

static char *
text_or_null(Datum d, bool isnull)
{
	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * gdpr.verify_audit(anchor_id bigint DEFAULT NULL, anchor_hash bytea DEFAULT NULL)
 *	 RETURNS TABLE(ok boolean, checked bigint, first_bad_id bigint)
 *
 * One ordered index scan over the log, recomputing each hash.  The first
 * entry must have id 1 and a zero prev_hash; every next one id + 1 and the
 * previous hash.  An altered entry fails its own hash, a removed one shows
 * as a gap (first_bad_id is then the missing id).  checked counts the entries
 * examined, the first bad one included.
 */
PG_FUNCTION_INFO_V1(gdpr_verify_audit);
Datum
gdpr_verify_audit(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		have_anchor = !PG_ARGISNULL(0) || !PG_ARGISNULL(1);
	int64		anchor_id = 0;
	bytea	   *anchor_hash = NULL;
	bool		anchor_seen = false;
	Oid			relid;
	Relation	rel;
	Relation	idx;
	Snapshot	snapshot;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	StringInfoData buf;
	MemoryContext rowcxt;
	MemoryContext oldcxt;
	uint8		prev[GDPR_HASH_LEN];
	int64		expected_id = 1;
	int64		checked = 0;
	int64		bad_id = 0;
	bool		ok = true;
	Datum		outvals[3];
	bool		outnulls[3] = {false, false, false};

	if (have_anchor)
	{
		if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("anchor_id and anchor_hash must be given together"),
					 errhint("Pass both values of gdpr.audit_head() recorded earlier, or neither.")));
		anchor_id = PG_GETARG_INT64(0);
		anchor_hash = PG_GETARG_BYTEA_PP(1);
	}

	InitMaterializedSRF(fcinfo, 0);

	relid = gdpr_table_oid("audit_log", false);
	rel = table_open(relid, AccessShareLock);
	check_audit_tupdesc(rel);
	idx = index_open(audit_pk_index(rel), AccessShareLock);

	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	scan = index_beginscan(rel, idx, snapshot, 0, 0);
	index_rescan(scan, NULL, 0, NULL, 0);
	slot = table_slot_create(rel, NULL);

	initStringInfo(&buf);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "gdpr verify_audit row",
								   ALLOCSET_DEFAULT_SIZES);
	memset(prev, 0, GDPR_HASH_LEN);

	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		Datum	   *v;
		bool	   *n;
		int64		id;
		uint8		hash[GDPR_HASH_LEN];
		char	   *details = NULL;
		int			detailslen = 0;

		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);
		v = slot->tts_values;
		n = slot->tts_isnull;
		checked++;

		oldcxt = MemoryContextSwitchTo(rowcxt);
		id = DatumGetInt64(v[Anum_audit_id - 1]);
		if (id != expected_id)
		{
			/* a gap: the first missing entry */
			ok = false;
			bad_id = expected_id;
			MemoryContextSwitchTo(oldcxt);
			break;
		}
		if (n[Anum_audit_at - 1] || n[Anum_audit_actor - 1] ||
			n[Anum_audit_action - 1] || n[Anum_audit_prev_hash - 1] ||
			n[Anum_audit_hash - 1] ||
			!hash_equal(v[Anum_audit_prev_hash - 1], prev))
		{
			ok = false;
			bad_id = id;
			MemoryContextSwitchTo(oldcxt);
			break;
		}
		if (!n[Anum_audit_details - 1])
		{
			Jsonb	   *jb = DatumGetJsonbP(v[Anum_audit_details - 1]);

			details = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
			detailslen = strlen(details);
		}
		audit_hash_entry(&buf, id,
						 DatumGetTimestampTz(v[Anum_audit_at - 1]),
						 NameStr(*DatumGetName(v[Anum_audit_actor - 1])),
						 TextDatumGetCString(v[Anum_audit_action - 1]),
						 text_or_null(v[Anum_audit_subject_ref - 1], n[Anum_audit_subject_ref - 1]),
						 text_or_null(v[Anum_audit_relation_name - 1], n[Anum_audit_relation_name - 1]),
						 details, detailslen, prev, hash);
		if (!hash_equal(v[Anum_audit_hash - 1], hash))
		{
			ok = false;
			bad_id = id;
			MemoryContextSwitchTo(oldcxt);
			break;
		}
		if (have_anchor && id == anchor_id)
		{
			if (VARSIZE_ANY_EXHDR(anchor_hash) != GDPR_HASH_LEN ||
				memcmp(VARDATA_ANY(anchor_hash), hash, GDPR_HASH_LEN) != 0)
			{
				ok = false;
				bad_id = id;
				MemoryContextSwitchTo(oldcxt);
				break;
			}
			anchor_seen = true;
		}
		memcpy(prev, hash, GDPR_HASH_LEN);
		expected_id = id + 1;
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(rowcxt);
	}

	/* the anchored entry is gone: the tail was removed */
	if (ok && have_anchor && !anchor_seen)
	{
		ok = false;
		bad_id = expected_id;
	}

	MemoryContextDelete(rowcxt);
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	UnregisterSnapshot(snapshot);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);

	outvals[0] = BoolGetDatum(ok);
	outvals[1] = Int64GetDatum(checked);
	if (ok)
		outnulls[2] = true;
	else
		outvals[2] = Int64GetDatum(bad_id);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, outvals, outnulls);
	return (Datum) 0;
}

/*
 * gdpr.audit_head(OUT id bigint, OUT hash bytea): the newest committed
 * entry, to be recorded outside the database as an anchor.
 */
PG_FUNCTION_INFO_V1(gdpr_audit_head);
Datum
gdpr_audit_head(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Oid			relid = gdpr_table_oid("audit_log", false);
	Relation	rel;
	Relation	idx;
	Snapshot	snapshot;
	int64		id = 0;
	uint8		hash[GDPR_HASH_LEN];
	bool		found;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	rel = table_open(relid, AccessShareLock);
	check_audit_tupdesc(rel);
	idx = index_open(audit_pk_index(rel), AccessShareLock);
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	found = audit_read_head(rel, idx, snapshot, &id, hash);
	UnregisterSnapshot(snapshot);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);

	if (!found)
	{
		nulls[0] = nulls[1] = true;
	}
	else
	{
		values[0] = Int64GetDatum(id);
		values[1] = PointerGetDatum(make_bytea(hash, GDPR_HASH_LEN));
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
