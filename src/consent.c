/*-------------------------------------------------------------------------
 *
 * consent.c
 *	  The consent registry (API section 3): grant / withdraw with proof,
 *	  unsubscribe tokens, and has_consent / may_process with a per-backend
 *	  cache cheap enough to be called for every row of a million-row scan.
 *
 * History.  gdpr.consent_event is append-only (a trigger refuses UPDATE,
 * TRUNCATE and DELETE except through gdpr_consent_erase_subject()).  The
 * state of (subject relation, key, purpose) is its latest event: a grant
 * that has not lapsed (granted_at + the purpose's consent_valid_for) is
 * active.  A withdrawal is a new event that points to the grant it ends,
 * so the grant stays as proof (Art. 7(1)).  Concurrent grant/withdraw of the
 * same subject and purpose are serialised by a transaction-level lock.
 *
 * Cache.  One ConsentSet per (subject relation, purpose), in a dynahash in
 * CacheMemoryContext whose entries never move (fn_extra points to them).  A
 * set holds every key whose latest event is a grant, with its expiry; keys
 * of integer key columns are hashed by value, all others by their text
 * form.  A set is (re)built with one scan of the consent table the first
 * time it is needed after an invalidation.  The statement trigger
 * gdpr._relcache_inval() on gdpr.consent_event (and gdpr.purpose) makes
 * every committed change send a relcache invalidation; our callback marks
 * the sets stale.  The build reads the table with the latest snapshot taken
 * after the generation counter was read, so a commit it missed always
 * sends an invalidation we process later.  Besides lock acquisition and
 * transaction start (where PostgreSQL processes invalidations anyway), we
 * accept pending invalidations once per statement, so a session inside a
 * read committed transaction block also sees a committed withdrawal at its
 * next statement.  Parallel workers build their own sets from the
 * statement's snapshot.
 *
 * Privileges.  The cache reads the consent table with a plain heap scan,
 * without ACL checks: readers of purpose views need no access to the
 * consent history.  The state-changing functions are SECURITY DEFINER with
 * a pinned search_path (see 40_consent.sql); the actor recorded is the
 * calling role.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/parallel.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "executor/executor.h"
#include "port/atomics.h"
#include "storage/backendid.h"
#include "storage/dsm.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "gdpr.h"
#include "audit.h"
#include "consent.h"
#include "purposes.h"
#include "tags.h"

/* columns of gdpr.consent_event (see 40_consent.sql) */
#define Anum_ce_id				1
#define Anum_ce_at				2
#define Anum_ce_subject			3
#define Anum_ce_grant_id		4
#define Anum_ce_action			5
#define Anum_ce_purpose			6
#define Anum_ce_subject_key		7
#define Natts_ce_needed			7

static const char *const valid_methods[] = {
	"checkbox", "double_opt_in", "written", "verbal", "electronic_signature", NULL
};
#define VALID_METHODS_TEXT "checkbox, double_opt_in, written, verbal, electronic_signature"

/* ------------------------------------------------------------------------
 * The cache
 * ------------------------------------------------------------------------
 */

/* one key with consent state; simplehash element for integer keys */
typedef struct ConsentIntEntry
{
	int64		key;
	int64		event_id;		/* latest event seen */
	TimestampTz at;				/* its time */
	TimestampTz expires;		/* DT_NOEND: no lapse; DT_NOBEGIN: inactive */
	char		status;			/* simplehash */
} ConsentIntEntry;

#define SH_PREFIX		consint
#define SH_ELEMENT_TYPE ConsentIntEntry
#define SH_KEY_TYPE		int64
#define SH_KEY			key
#define SH_HASH_KEY(tb, k)	murmurhash32((uint32) (k) ^ murmurhash32((uint32) ((uint64) (k) >> 32)))
#define SH_EQUAL(tb, a, b)	((a) == (b))
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* the same for keys hashed by their text form */
typedef struct ConsentStrEntry
{
	const char *key;
	int64		event_id;
	TimestampTz at;
	TimestampTz expires;
	uint32		hash;
	char		status;
} ConsentStrEntry;

#define SH_PREFIX		consstr
#define SH_ELEMENT_TYPE ConsentStrEntry
#define SH_KEY_TYPE		const char *
#define SH_KEY			key
#define SH_HASH_KEY(tb, k)	hash_bytes((const unsigned char *) (k), strlen(k))
#define SH_EQUAL(tb, a, b)	(strcmp((a), (b)) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a)	((a)->hash)
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct ConsentSetKey
{
	Oid			subject;
	char		purpose[NAMEDATALEN];
} ConsentSetKey;

typedef struct ConsentSet
{
	ConsentSetKey key;			/* dynahash key: must be first */
	bool		valid;
	bool		byval;			/* integer keys, hashed by value */
	LocalTransactionId transient_lxid;	/* valid only in this xact, or 0 */
	MemoryContext cxt;			/* holds the hash table and string keys */
	consint_hash *ints;			/* active integer keys */
	consstr_hash *strs;			/* active keys by text form */
	uint8	   *bitmap;			/* active integer keys minkey..maxkey, or NULL */
	int64		minkey;
	int64		maxkey;
	TimestampTz min_expires;	/* earliest expiry of an active key */
	bool		has_valid_for;	/* the purpose's consent_valid_for */
	Interval	valid_for;
	int64		nactive;
	/* sharing with parallel workers (see "Parallel workers" below) */
	dsm_segment *seg;			/* leader: the published copy, or NULL */
	const int64 *keys;			/* with bitmap: the active keys in order */
	const TimestampTz *ats;		/* and their grant times */
} ConsentSet;

/* layout of a shared copy: header, bitmap, keys[nactive], at[nactive] */
#define CONSENT_SHARED_MAGIC 0x67645343
typedef struct ConsentShared
{
	uint32		magic;
	pg_atomic_uint32 valid;		/* cleared when the owner invalidates it */
	Oid			dbid;
	BackendId	owner;
	Oid			subject;
	char		purpose[NAMEDATALEN];
	int64		minkey;
	int64		maxkey;
	TimestampTz min_expires;
	bool		has_valid_for;
	Interval	valid_for;
	int64		nactive;
	Size		bitmap_bytes;
} ConsentShared;

#define SHARED_BITMAP(h)	((uint8 *) (h) + MAXALIGN(sizeof(ConsentShared)))
#define SHARED_KEYS(h)		((int64 *) (SHARED_BITMAP(h) + MAXALIGN((h)->bitmap_bytes)))
#define SHARED_AT(h)		((TimestampTz *) (SHARED_KEYS(h) + (h)->nactive))

static HTAB *consent_sets = NULL;
static MemoryContext consent_cxt = NULL;
static uint64 consent_gen = 1;	/* bumped by every relevant invalidation */
static Oid	consent_table_relid = InvalidOid;
static Oid	purpose_table_relid = InvalidOid;

/* per-statement acceptance of pending invalidations */
static TimestampTz last_stmt_start = 0;
static LocalTransactionId last_stmt_lxid = InvalidLocalTransactionId;

/* number of set builds in this backend (gdpr._consent_cache_builds()) */
static int64 consent_builds = 0;

/* sharing with parallel workers */
static char *consent_segments_guc = NULL;
static char *consent_segments_published = NULL;
static bool consent_publish_dirty = false;	/* sets or the GUC may have changed */
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static void consent_ExecutorStart(QueryDesc *queryDesc, int eflags);
static void consent_xact_cb(XactEvent event, void *arg);
static void consent_subxact_cb(SubXactEvent event, SubTransactionId mySubid,
							   SubTransactionId parentSubid, void *arg);

/* the snapshot the cache is built with */
static SnapshotData consent_snapshot_data = {SNAPSHOT_MVCC};

/* set while gdpr_consent_erase_subject() deletes history */
static bool consent_delete_allowed = false;

/* parse the text form of an integer key; false when it is none */
static bool
parse_int_key(const char *s, int len, int64 *result)
{
	char		buf[24];
	char	   *end;

	if (len <= 0 || len >= (int) sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	*result = strtoi64(buf, &end, 10);
	return errno == 0 && *end == '\0';
}

/* mark a set stale, and its copy for parallel workers with it */
static void
consent_set_invalidate(ConsentSet *set)
{
	set->valid = false;
	consent_publish_dirty = true;
	if (set->seg != NULL)
	{
		ConsentShared *h = (ConsentShared *) dsm_segment_address(set->seg);

		pg_atomic_write_u32(&h->valid, 0);
	}
}

static void
consent_invalidate_all(void)
{
	HASH_SEQ_STATUS status;
	ConsentSet *set;

	consent_gen++;
	if (consent_sets == NULL)
		return;
	hash_seq_init(&status, consent_sets);
	while ((set = (ConsentSet *) hash_seq_search(&status)) != NULL)
		consent_set_invalidate(set);
}

static void
consent_relcache_cb(Datum arg, Oid relid)
{
	if (relid == InvalidOid ||
		relid == consent_table_relid || relid == purpose_table_relid)
	{
		/* the table may have been dropped (DROP EXTENSION): look it up anew */
		consent_table_relid = InvalidOid;
		purpose_table_relid = InvalidOid;
		consent_invalidate_all();
		return;
	}
	if (consent_sets != NULL)
	{
		HASH_SEQ_STATUS status;
		ConsentSet *set;

		/*
		 * The subject table changed (labels, key column, DDL, or only its
		 * statistics): call sites set up again (and rebuild the set if the
		 * key's kind changed, see consent_fn_setup); the consent state is the
		 * same, so a VACUUM or ANALYZE of the table costs no rebuild.
		 */
		hash_seq_init(&status, consent_sets);
		while ((set = (ConsentSet *) hash_seq_search(&status)) != NULL)
		{
			if (set->key.subject == relid)
			{
				consent_gen++;
				hash_seq_term(&status);
				break;
			}
		}
	}
}

void
gdpr_consent_init(void)
{
	CacheRegisterRelcacheCallback(consent_relcache_cb, (Datum) 0);
	DefineCustomStringVariable("gdpr.consent_cache_segments",
							   "Internal: the consent caches this session shares with its parallel workers.",
							   NULL, &consent_segments_guc, "",
							   PGC_SUSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_NO_RESET_ALL |
							   GUC_DISALLOW_IN_FILE | GUC_DISALLOW_IN_AUTO_FILE,
							   NULL, NULL, NULL);
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = consent_ExecutorStart;
	RegisterXactCallback(consent_xact_cb, NULL);
	RegisterSubXactCallback(consent_subxact_cb, NULL);
}

/*
 * Accept pending invalidations once per statement (see the file header):
 * cheap when nothing is pending.
 */
static inline void
consent_statement_check(void)
{
	TimestampTz ts = GetCurrentStatementStartTimestamp();

	if (ts != last_stmt_start || MyProc->lxid != last_stmt_lxid)
	{
		last_stmt_start = ts;
		last_stmt_lxid = MyProc->lxid;
		if (!IsParallelWorker())
			AcceptInvalidationMessages();
	}
}

/* subject relation, key column and type; errors unless a subject table */
typedef struct SubjectInfo
{
	Oid			relid;			/* the labelled relation (parent of partitions) */
	AttrNumber	keyatt;
	Oid			keytype;
	int32		keytypmod;
	bool		byval;			/* int2/int4/int8 key: hashed by value */
} SubjectInfo;

static void
subject_info(Oid relid, SubjectInfo *si)
{
	const GdprTableTags *tags;
	Oid			coll;
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	tags = gdpr_table_tags(relid);
	if (tags == NULL || !tags->is_subject ||
		tags->subject_key == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("relation \"%s\" is not a subject table",
						gdpr_relation_name(relid)),
				 errdetail("Consent is recorded for data subjects, identified by the key column of a subject table."),
				 errhint("Mark the table first: SECURITY LABEL FOR gdpr ON TABLE %s IS 'SUBJECT KEY (column)', or gdpr.register_subject_table().",
						 gdpr_relation_name(relid))));
	si->relid = tags->relid;
	si->keyatt = tags->subject_key;
	get_atttypetypmodcoll(si->relid, si->keyatt, &si->keytype, &si->keytypmod,
						  &coll);
	si->byval = (si->keytype == INT2OID || si->keytype == INT4OID ||
				 si->keytype == INT8OID);
}

/*
 * Purpose lookups from the cache of purposes.c, which may read gdpr.purpose
 * with SPI: done as the bootstrap superuser, so that readers of purpose
 * views (who call may_process) need no privilege on gdpr.purpose.
 */
static const GdprPurpose *
purpose_lookup(const char *name, bool missing_ok)
{
	Oid			saveuid;
	int			savesec;
	const GdprPurpose *p;

	GetUserIdAndSecContext(&saveuid, &savesec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   savesec | SECURITY_LOCAL_USERID_CHANGE);
	p = missing_ok ? gdpr_lookup_purpose(name) : gdpr_get_purpose(name);
	SetUserIdAndSecContext(saveuid, savesec);
	return p;
}

/* a grant time plus consent_valid_for (NULL: never lapses) */
static TimestampTz
consent_expiry_iv(const Interval *iv, TimestampTz at)
{
	Interval	copy;

	if (iv == NULL)
		return DT_NOEND;
	copy = *iv;
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												   TimestampTzGetDatum(at),
												   PointerGetDatum(&copy)));
}

/* consent_valid_for of a purpose applied to a grant time */
static TimestampTz
consent_expiry(const GdprPurpose *p, TimestampTz at)
{
	Interval	iv;

	if (p == NULL || !p->has_consent_valid_for)
		return DT_NOEND;
	iv = p->consent_valid_for;
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												   TimestampTzGetDatum(at),
												   PointerGetDatum(&iv)));
}

static Oid
consent_table(void)
{
	if (!OidIsValid(consent_table_relid))
	{
		consent_table_relid = gdpr_table_oid(GDPR_CONSENT_TABLE, false);
		purpose_table_relid = gdpr_table_oid("purpose", true);
	}
	return consent_table_relid;
}

static ConsentSet *
consent_set_lookup(Oid subject, const char *purpose, bool byval)
{
	ConsentSetKey key;
	ConsentSet *set;
	bool		found;

	if (consent_sets == NULL)
	{
		HASHCTL		ctl;

		consent_cxt = AllocSetContextCreate(CacheMemoryContext,
											"gdpr consent cache",
											ALLOCSET_SMALL_SIZES);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(ConsentSetKey);
		ctl.entrysize = sizeof(ConsentSet);
		ctl.hcxt = consent_cxt;
		consent_sets = hash_create("gdpr consent sets", 16, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.subject = subject;
	strlcpy(key.purpose, purpose, NAMEDATALEN);
	set = (ConsentSet *) hash_search(consent_sets, &key, HASH_ENTER, &found);
	if (!found)
	{
		set->valid = false;
		set->byval = byval;
		set->transient_lxid = InvalidLocalTransactionId;
		set->cxt = AllocSetContextCreate(consent_cxt, "gdpr consent set",
										 ALLOCSET_DEFAULT_SIZES);
		set->ints = NULL;
		set->strs = NULL;
		set->bitmap = NULL;
		set->nactive = 0;
		set->min_expires = DT_NOEND;
		set->seg = NULL;
		set->keys = NULL;
		set->ats = NULL;
	}
	return set;
}

/* ------------------------------------------------------------------------
 * Parallel workers
 *
 * A parallel worker lives for one query: building its own set would cost
 * every parallel scan a full read of the consent table per worker.  So the
 * leader publishes a read-only copy of each dense integer set in a DSM
 * segment, and the handles in the GUC gdpr.consent_cache_segments, which
 * PostgreSQL hands to the workers with the rest of the leader's settings
 * (PGC_SUSET: no ordinary role can point workers elsewhere).  The leader
 * clears the copy's valid flag when it invalidates the set, and accepts
 * pending invalidations before it starts a parallel plan, so a worker never
 * uses a copy the leader would not use itself.  Without a usable copy a
 * worker builds its own set from the query's snapshot.
 * ------------------------------------------------------------------------
 */

/* the leader: copy a freshly built set into a DSM segment */
static void
consent_set_share(ConsentSet *set)
{
	Size		bitmap_bytes = (Size) ((set->maxkey - set->minkey) / 8 + 1);
	Size		size;
	dsm_segment *seg;
	ConsentShared *h;

	size = MAXALIGN(sizeof(ConsentShared)) + MAXALIGN(bitmap_bytes) +
		(Size) set->nactive * (sizeof(int64) + sizeof(TimestampTz));
	seg = dsm_create(size, DSM_CREATE_NULL_IF_MAXSEGMENTS);
	if (seg == NULL)
		return;					/* workers will build their own */
	dsm_pin_mapping(seg);
	h = (ConsentShared *) dsm_segment_address(seg);
	h->magic = CONSENT_SHARED_MAGIC;
	pg_atomic_init_u32(&h->valid, 1);
	h->dbid = MyDatabaseId;
	h->owner = MyBackendId;
	h->subject = set->key.subject;
	memcpy(h->purpose, set->key.purpose, NAMEDATALEN);
	h->minkey = set->minkey;
	h->maxkey = set->maxkey;
	h->min_expires = set->min_expires;
	h->has_valid_for = set->has_valid_for;
	h->valid_for = set->valid_for;
	h->nactive = set->nactive;
	h->bitmap_bytes = bitmap_bytes;
	memcpy(SHARED_BITMAP(h), set->bitmap, bitmap_bytes);
	memcpy(SHARED_KEYS(h), set->keys, sizeof(int64) * set->nactive);
	memcpy(SHARED_AT(h), set->ats, sizeof(TimestampTz) * set->nactive);
	set->seg = seg;
	consent_publish_dirty = true;
}

/* the handles of the valid shared sets, "h1,h2,..." */
static char *
consent_segments_value(void)
{
	StringInfoData buf;
	HASH_SEQ_STATUS status;
	ConsentSet *set;

	initStringInfo(&buf);
	if (consent_sets == NULL)
		return buf.data;
	hash_seq_init(&status, consent_sets);
	while ((set = (ConsentSet *) hash_seq_search(&status)) != NULL)
	{
		if (set->seg != NULL && set->valid)
			appendStringInfo(&buf, "%s%u", buf.len > 0 ? "," : "",
							 (unsigned int) dsm_segment_handle(set->seg));
	}
	return buf.data;
}

/* the leader, outside parallel mode: hand the current copies to workers */
static void
consent_publish(void)
{
	char	   *value;

	if (!consent_publish_dirty || IsInParallelMode() || IsParallelWorker() ||
		consent_sets == NULL)
		return;
	consent_publish_dirty = false;
	value = consent_segments_value();
	if (consent_segments_published != NULL &&
		strcmp(value, consent_segments_published) == 0 &&
		consent_segments_guc != NULL &&
		strcmp(value, consent_segments_guc) == 0)
		return;
	(void) set_config_option("gdpr.consent_cache_segments", value,
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SET,
							 true, 0, false);
	if (consent_segments_published)
		pfree(consent_segments_published);
	consent_segments_published = MemoryContextStrdup(TopMemoryContext, value);
}

/* an aborted transaction undoes the GUC setting: publish again */
static void
consent_xact_cb(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT)
		consent_publish_dirty = true;
}

static void
consent_subxact_cb(SubXactEvent event, SubTransactionId mySubid,
				   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		consent_publish_dirty = true;
}

static void
consent_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (consent_sets != NULL && !IsInParallelMode() && !IsParallelWorker())
	{
		/* workers must not use a copy the leader is about to drop */
		if (queryDesc->plannedstmt->parallelModeNeeded)
			AcceptInvalidationMessages();
		consent_publish();
	}
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/* a worker: use the leader's copy of this set, if there is a valid one */
static bool
consent_set_attach(ConsentSet *set)
{
	char	   *list;
	char	   *tok;
	char	   *save;

	if (consent_segments_guc == NULL || consent_segments_guc[0] == '\0')
		return false;
	list = pstrdup(consent_segments_guc);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		dsm_handle handle = (dsm_handle) strtoul(tok, NULL, 10);
		dsm_segment *seg = dsm_find_mapping(handle);
		ConsentShared *h;

		if (seg == NULL)
			seg = dsm_attach(handle);
		if (seg == NULL)
			continue;
		h = (ConsentShared *) dsm_segment_address(seg);
		if (dsm_segment_map_length(seg) >= sizeof(ConsentShared) &&
			h->magic == CONSENT_SHARED_MAGIC &&
			h->dbid == MyDatabaseId && h->owner == ParallelLeaderBackendId &&
			h->subject == set->key.subject &&
			strncmp(h->purpose, set->key.purpose, NAMEDATALEN) == 0 &&
			pg_atomic_read_u32(&h->valid) == 1)
		{
			dsm_pin_mapping(seg);
			set->bitmap = SHARED_BITMAP(h);
			set->minkey = h->minkey;
			set->maxkey = h->maxkey;
			set->min_expires = h->min_expires;
			set->has_valid_for = h->has_valid_for;
			set->valid_for = h->valid_for;
			set->nactive = h->nactive;
			set->keys = SHARED_KEYS(h);
			set->ats = SHARED_AT(h);
			set->ints = NULL;
			set->strs = NULL;
			set->byval = true;
			set->valid = true;
			pfree(list);
			return true;
		}
		dsm_detach(seg);
	}
	pfree(list);
	return false;
}

/*
 * (Re)build a set with one scan of the consent table.
 */
static void
consent_set_build(ConsentSet *set, bool byval)
{
	Relation	rel;
	TableScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snap;
	bool		registered = false;
	uint64		gen0;
	const GdprPurpose *p;
	MemoryContext oldcxt;
	MemoryContext buildcxt;
	consint_hash *bints = NULL;
	consstr_hash *bstrs = NULL;
	size_t		plen = strlen(set->key.purpose);
	TimestampTz min_at = DT_NOEND;
	Oid			relid = consent_table();

	if (set->seg != NULL)
	{
		consent_set_invalidate(set);
		dsm_detach(set->seg);
		set->seg = NULL;
	}
	set->keys = NULL;
	set->ats = NULL;
	if (IsParallelWorker() && byval && consent_set_attach(set))
		return;

	consent_builds++;
	/* locks first: that may process invalidations, before gen0 is read */
	rel = table_open(relid, AccessShareLock);
	p = purpose_lookup(set->key.purpose, true);
	gen0 = consent_gen;

	MemoryContextReset(set->cxt);
	set->has_valid_for = (p != NULL && p->has_consent_valid_for);
	if (set->has_valid_for)
		set->valid_for = p->consent_valid_for;
	set->byval = byval;
	set->ints = NULL;
	set->strs = NULL;
	set->bitmap = NULL;
	set->nactive = 0;
	set->min_expires = DT_NOEND;

	/* the latest event per key, in a scratch context */
	buildcxt = AllocSetContextCreate(CurrentMemoryContext, "gdpr consent build",
									 ALLOCSET_DEFAULT_SIZES);
	{
		/* size for the whole table (bounded): growing costs more */
		double		hint = rel->rd_rel->reltuples;
		uint32		n = (uint32) Min(Max(hint, 1024.0), (double) (1 << 22));

		if (byval)
			bints = consint_create(buildcxt, n, NULL);
		else
			bstrs = consstr_create(buildcxt, n, NULL);
	}

	set->transient_lxid = InvalidLocalTransactionId;
	if (IsParallelWorker())
	{
		/* lives for one query: the query's snapshot, as the leader's */
		snap = GetActiveSnapshot();
	}
	else
	{
		/*
		 * The latest committed state (GetLatestSnapshot(), which is not
		 * allowed in parallel mode, is the same call).
		 */
		snap = RegisterSnapshot(GetSnapshotData(&consent_snapshot_data));
		registered = true;
	}

	scan = table_beginscan(rel, snap, 0, NULL);
	slot = table_slot_create(rel, NULL);
	oldcxt = MemoryContextSwitchTo(buildcxt);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d;
		int64		id;
		TimestampTz at;
		bool		is_grant;
		text	   *t;

		d = slot_getattr(slot, Anum_ce_subject, &isnull);
		if (isnull || DatumGetObjectId(d) != set->key.subject)
			continue;
		d = slot_getattr(slot, Anum_ce_purpose, &isnull);
		if (isnull)
			continue;
		t = DatumGetTextPP(d);
		if (VARSIZE_ANY_EXHDR(t) != plen ||
			memcmp(VARDATA_ANY(t), set->key.purpose, plen) != 0)
			continue;
		id = DatumGetInt64(slot_getattr(slot, Anum_ce_id, &isnull));
		at = DatumGetTimestampTz(slot_getattr(slot, Anum_ce_at, &isnull));
		t = DatumGetTextPP(slot_getattr(slot, Anum_ce_action, &isnull));
		is_grant = (VARSIZE_ANY_EXHDR(t) > 0 && *VARDATA_ANY(t) == 'g');
		t = DatumGetTextPP(slot_getattr(slot, Anum_ce_subject_key, &isnull));

		if (byval)
		{
			int64		k;
			ConsentIntEntry *e;
			bool		found;

			/* a key of another type than the column is never looked up */
			if (!parse_int_key(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &k))
				continue;
			e = consint_insert(bints, k, &found);
			if (!found || id > e->event_id)
			{
				e->event_id = id;
				e->at = at;
				e->expires = is_grant ? DT_NOEND : DT_NOBEGIN;
			}
		}
		else
		{
			char	   *str = text_to_cstring(t);
			ConsentStrEntry *e;
			bool		found;

			e = consstr_insert(bstrs, str, &found);
			if (found)
				pfree(str);
			if (!found || id > e->event_id)
			{
				e->event_id = id;
				e->at = at;
				e->expires = is_grant ? DT_NOEND : DT_NOBEGIN;
			}
		}
	}
	MemoryContextSwitchTo(oldcxt);
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	if (registered)
		UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);

	/*
	 * The lookup structures hold only the keys whose consent is active now
	 * (a lapsed consent cannot come back without a new event, which
	 * invalidates the set).  Integer keys in a dense enough range get a
	 * bitmap, answered from a few cache lines, with the keys and grant times
	 * in key order beside it for expiry checks; other keys a hash table kept
	 * at most half full.  The exact expiry (timestamptz + interval) is only
	 * computed near the lapse boundary; it grows with the grant time, so the
	 * earliest remaining grant gives the earliest expiry.
	 */
	{
		TimestampTz now = GetCurrentTransactionStartTimestamp();
		TimestampTz lo = DT_NOBEGIN;
		TimestampTz hi = DT_NOBEGIN;

		if (set->has_valid_for)
		{
			/* now - valid_for, widened by a week for month and DST effects */
			TimestampTz approx = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
																		 TimestampTzGetDatum(now),
																		 PointerGetDatum(&set->valid_for)));

			lo = approx - 7 * USECS_PER_DAY;
			hi = approx + 7 * USECS_PER_DAY;
		}

#define LAPSED(at_) \
		(set->has_valid_for && ((at_) < lo || \
		 ((at_) <= hi && consent_expiry_iv(&set->valid_for, (at_)) <= now)))

		if (byval)
		{
			consint_iterator it;
			ConsentIntEntry *e;
			int64		minkey = PG_INT64_MAX;
			int64		maxkey = PG_INT64_MIN;

			consint_start_iterate(bints, &it);
			while ((e = consint_iterate(bints, &it)) != NULL)
			{
				if (e->expires == DT_NOBEGIN)
					continue;
				if (LAPSED(e->at))
				{
					e->expires = DT_NOBEGIN;
					continue;
				}
				set->nactive++;
				minkey = Min(minkey, e->key);
				maxkey = Max(maxkey, e->key);
				min_at = Min(min_at, e->at);
			}
			if (set->nactive > 0 && maxkey - minkey < ((int64) 1 << 31) &&
				(uint64) (maxkey - minkey) < Max((uint64) set->nactive * 64, (uint64) 1 << 20))
			{
				/* dense: bitmap + keys and grant times in key order */
				uint64		off;
				int64		n = 0;
				int64	   *keys;
				TimestampTz *ats;

				set->minkey = minkey;
				set->maxkey = maxkey;
				set->bitmap = MemoryContextAllocZero(set->cxt, (maxkey - minkey) / 8 + 1);
				keys = MemoryContextAlloc(set->cxt, sizeof(int64) * set->nactive);
				ats = MemoryContextAlloc(set->cxt, sizeof(TimestampTz) * set->nactive);
				consint_start_iterate(bints, &it);
				while ((e = consint_iterate(bints, &it)) != NULL)
				{
					if (e->expires == DT_NOBEGIN)
						continue;
					off = (uint64) (e->key - minkey);
					set->bitmap[off >> 3] |= (uint8) (1 << (off & 7));
				}
				for (off = 0; off <= (uint64) (maxkey - minkey); off++)
				{
					if (set->bitmap[off >> 3] & (1 << (off & 7)))
					{
						e = consint_lookup(bints, minkey + (int64) off);
						keys[n] = e->key;
						ats[n] = e->at;
						n++;
					}
				}
				set->keys = keys;
				set->ats = ats;
			}
			else if (set->nactive > 0)
			{
				set->ints = consint_create(set->cxt, set->nactive * 2, NULL);
				consint_start_iterate(bints, &it);
				while ((e = consint_iterate(bints, &it)) != NULL)
				{
					ConsentIntEntry *n;
					bool		found;

					if (e->expires == DT_NOBEGIN)
						continue;
					n = consint_insert(set->ints, e->key, &found);
					n->event_id = e->event_id;
					n->at = e->at;
					n->expires = 0;		/* computed when first needed */
				}
			}
		}
		else
		{
			consstr_iterator it;
			ConsentStrEntry *e;

			consstr_start_iterate(bstrs, &it);
			while ((e = consstr_iterate(bstrs, &it)) != NULL)
			{
				if (e->expires == DT_NOBEGIN)
					continue;
				if (LAPSED(e->at))
				{
					e->expires = DT_NOBEGIN;
					continue;
				}
				set->nactive++;
				min_at = Min(min_at, e->at);
			}
			set->strs = consstr_create(set->cxt, Max(set->nactive * 2, 64), NULL);
			consstr_start_iterate(bstrs, &it);
			while ((e = consstr_iterate(bstrs, &it)) != NULL)
			{
				ConsentStrEntry *n;
				bool		found;

				if (e->expires == DT_NOBEGIN)
					continue;
				n = consstr_insert(set->strs, MemoryContextStrdup(set->cxt, e->key),
								   &found);
				n->event_id = e->event_id;
				n->at = e->at;
				n->expires = consent_expiry_iv(set->has_valid_for ? &set->valid_for : NULL,
											   e->at);
			}
		}
#undef LAPSED
		if (set->nactive > 0 && set->has_valid_for)
			set->min_expires = consent_expiry_iv(&set->valid_for, min_at);
	}
	MemoryContextDelete(buildcxt);

	/* an invalidation processed while we read wins: rebuild next time */
	set->valid = (gen0 == consent_gen);
	if (set->valid && byval && set->bitmap != NULL && set->nactive > 0 &&
		!IsParallelWorker())
		consent_set_share(set);
}

static inline bool
consent_set_usable(ConsentSet *set)
{
	return set->valid &&
		(set->transient_lxid == InvalidLocalTransactionId ||
		 set->transient_lxid == MyProc->lxid);
}

/* ------------------------------------------------------------------------
 * has_consent / may_process
 * ------------------------------------------------------------------------
 */

/* what a call site caches in fn_extra */
typedef struct ConsentFnCache
{
	uint64		gen;			/* consent_gen when filled */
	Oid			subject;		/* as passed */
	Datum		purpose_ptr;	/* the purpose argument last seen */
	char		purpose[NAMEDATALEN];
	bool		consent_basis;
	SubjectInfo si;
	ConsentSet *set;
	Oid			argtype;
	bool		arg_int;		/* argument is int2/4/8 */
	FmgrInfo	keyout;			/* output function of the key column type */
} ConsentFnCache;

static bool
purpose_arg_matches(ConsentFnCache *fc, Datum purpose)
{
	text	   *t;
	int			len;

	if (fc->purpose_ptr == purpose)
		return true;
	t = DatumGetTextPP(purpose);
	len = VARSIZE_ANY_EXHDR(t);
	if (len < NAMEDATALEN && fc->purpose[len] == '\0' &&
		memcmp(VARDATA_ANY(t), fc->purpose, len) == 0)
	{
		if ((Pointer) t == DatumGetPointer(purpose))
			fc->purpose_ptr = purpose;
		return true;
	}
	return false;
}

/* finished call-site setups, per (subject, argument type, purpose) */
typedef struct ConsentFnTemplateKey
{
	Oid			subject;
	Oid			argtype;
	char		purpose[NAMEDATALEN];
} ConsentFnTemplateKey;

typedef struct ConsentFnTemplate
{
	ConsentFnTemplateKey key;
	ConsentFnCache fc;
} ConsentFnTemplate;

static HTAB *fn_templates = NULL;

static ConsentFnCache *
consent_fn_setup(FunctionCallInfo fcinfo, Oid subject, Datum purpose)
{
	ConsentFnCache *fc = (ConsentFnCache *) fcinfo->flinfo->fn_extra;
	ConsentFnTemplateKey tkey;
	text	   *pt;
	Oid			argtype;
	uint64		gen_start;
	char	   *pname;
	const GdprPurpose *p;
	Oid			outfn;
	bool		isvarlena;

	if (fc != NULL && fc->gen == consent_gen && fc->subject == subject &&
		purpose_arg_matches(fc, purpose))
		return fc;

	if (fc == NULL)
	{
		fc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ConsentFnCache));
		fcinfo->flinfo->fn_extra = fc;
	}
	fc->gen = 0;				/* not valid until complete */
	argtype = get_fn_expr_argtype(fcinfo->flinfo, 1);
	if (!OidIsValid(argtype))
		ereport(ERROR,
				(errcode(ERRCODE_INDETERMINATE_DATATYPE),
				 errmsg("could not determine the type of subject_key")));

	/*
	 * A prepared statement gets a fresh fn_extra at every execution: keep the
	 * finished setups per backend, so a point lookup costs one hash probe.
	 */
	pt = DatumGetTextPP(purpose);
	memset(&tkey, 0, sizeof(tkey));
	tkey.subject = subject;
	tkey.argtype = argtype;
	if (VARSIZE_ANY_EXHDR(pt) < NAMEDATALEN)
	{
		memcpy(tkey.purpose, VARDATA_ANY(pt), VARSIZE_ANY_EXHDR(pt));
		if (fn_templates != NULL)
		{
			ConsentFnTemplate *t = hash_search(fn_templates, &tkey, HASH_FIND, NULL);

			if (t != NULL && t->fc.gen == consent_gen)
			{
				memcpy(fc, &t->fc, sizeof(ConsentFnCache));
				fc->purpose_ptr = (Datum) 0;
				return fc;
			}
		}
	}

	gen_start = consent_gen;
	pname = text_to_cstring(pt);
	p = purpose_lookup(pname, false);	/* raises for an unknown purpose */
	strlcpy(fc->purpose, p->name, NAMEDATALEN);
	fc->consent_basis = (p->basis == GDPR_BASIS_CONSENT);
	fc->purpose_ptr = (Datum) 0;
	subject_info(subject, &fc->si);
	fc->subject = subject;
	fc->argtype = argtype;
	fc->arg_int = (fc->argtype == INT2OID || fc->argtype == INT4OID ||
				   fc->argtype == INT8OID);
	getTypeOutputInfo(fc->si.keytype, &outfn, &isvarlena);
	fmgr_info_cxt(outfn, &fc->keyout, CacheMemoryContext);
	fc->set = consent_set_lookup(fc->si.relid, fc->purpose, fc->si.byval);
	if (fc->set->byval != fc->si.byval)
		fc->set->valid = false;	/* the key column changed kind */
	/* an invalidation during the setup makes the next call redo it */
	fc->gen = gen_start;
	if (tkey.purpose[0] != '\0' && gen_start == consent_gen)
	{
		ConsentFnTemplate *t;

		if (fn_templates == NULL)
		{
			HASHCTL		ctl;

			memset(&ctl, 0, sizeof(ctl));
			ctl.keysize = sizeof(ConsentFnTemplateKey);
			ctl.entrysize = sizeof(ConsentFnTemplate);
			ctl.hcxt = CacheMemoryContext;
			fn_templates = hash_create("gdpr consent call sites", 16, &ctl,
									   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		}
		if (hash_get_num_entries(fn_templates) < 1024)
		{
			t = hash_search(fn_templates, &tkey, HASH_ENTER, NULL);
			memcpy(&t->fc, fc, sizeof(ConsentFnCache));
		}
	}
	return fc;
}

static inline int64
int_datum(Datum d, Oid type)
{
	switch (type)
	{
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		default:
			return DatumGetInt64(d);
	}
}

/* a bitmap hit after some consent lapsed: binary search for the grant time */
static bool
sorted_key_active(ConsentSet *set, int64 k)
{
	int64		lo = 0;
	int64		hi = set->nactive - 1;

	while (lo <= hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (set->keys[mid] == k)
		{
			TimestampTz expires = DT_NOEND;

			if (set->has_valid_for)
				expires = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
																  TimestampTzGetDatum(set->ats[mid]),
																  PointerGetDatum(&set->valid_for)));
			return expires > GetCurrentTransactionStartTimestamp();
		}
		if (set->keys[mid] < k)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

/* the consent lookup proper, on a set that is usable */
static bool
consent_lookup(ConsentFnCache *fc, Datum key)
{
	ConsentSet *set = fc->set;
	TimestampTz expires;

	if (!consent_set_usable(set))
	{
		consent_set_build(set, fc->si.byval);
		if (fc->gen != consent_gen)
			fc->gen = 0;		/* re-check the call site next time */
	}
	if (set->nactive == 0)
		return false;

	if (set->byval)
	{
		int64		k;
		ConsentIntEntry *e;

		if (fc->arg_int)
			k = int_datum(key, fc->argtype);
		else
		{
			Datum		c = gdpr_coerce_key(key, fc->argtype, fc->si.keytype,
											fc->si.keytypmod);

			k = int_datum(c, fc->si.keytype);
		}
		if (set->bitmap != NULL)
		{
			uint64		off;

			if (k < set->minkey || k > set->maxkey)
				return false;
			off = (uint64) (k - set->minkey);
			if ((set->bitmap[off >> 3] & (1 << (off & 7))) == 0)
				return false;
			/* nothing has lapsed yet: no need to look up the expiry */
			if (set->min_expires > GetCurrentTransactionStartTimestamp())
				return true;
			return sorted_key_active(set, k);
		}
		e = consint_lookup(set->ints, k);
		if (e == NULL)
			return false;
		if (e->expires == 0)
			e->expires = set->has_valid_for ?
				DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														TimestampTzGetDatum(e->at),
														PointerGetDatum(&set->valid_for))) :
				DT_NOEND;
		expires = e->expires;
	}
	else
	{
		char	   *s;
		ConsentStrEntry *e;

		if (fc->argtype == fc->si.keytype)
			s = OutputFunctionCall(&fc->keyout, key);
		else
			s = OutputFunctionCall(&fc->keyout,
								   gdpr_coerce_key(key, fc->argtype,
												   fc->si.keytype,
												   fc->si.keytypmod));
		e = consstr_lookup(set->strs, s);
		pfree(s);
		if (e == NULL)
			return false;
		expires = e->expires;
	}
	if (expires == DT_NOEND)
		return true;
	if (expires == DT_NOBEGIN)
		return false;
	return expires > GetCurrentTransactionStartTimestamp();
}

static Datum
consent_fn(FunctionCallInfo fcinfo, bool may_process)
{
	ConsentFnCache *fc;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("subject must not be NULL")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("purpose must not be NULL")));

	consent_statement_check();
	fc = consent_fn_setup(fcinfo, PG_GETARG_OID(0), PG_GETARG_DATUM(2));
	if (may_process && !fc->consent_basis)
		PG_RETURN_BOOL(true);
	if (PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(consent_lookup(fc, PG_GETARG_DATUM(1)));
}

PG_FUNCTION_INFO_V1(gdpr_has_consent_fn);
Datum
gdpr_has_consent_fn(PG_FUNCTION_ARGS)
{
	return consent_fn(fcinfo, false);
}

PG_FUNCTION_INFO_V1(gdpr_may_process_fn);
Datum
gdpr_may_process_fn(PG_FUNCTION_ARGS)
{
	return consent_fn(fcinfo, true);
}

/* C entry points for other capabilities (consent.h) */
static bool
consent_check_c(Oid subject_relid, Datum key, Oid keytype,
				const char *purpose, bool may_process)
{
	ConsentFnCache fc;
	Oid			outfn;
	bool		isvarlena;
	const GdprPurpose *p = purpose_lookup(purpose, false);

	if (may_process && p->basis != GDPR_BASIS_CONSENT)
		return true;
	memset(&fc, 0, sizeof(fc));
	subject_info(subject_relid, &fc.si);
	strlcpy(fc.purpose, p->name, NAMEDATALEN);
	fc.argtype = keytype;
	fc.arg_int = (keytype == INT2OID || keytype == INT4OID || keytype == INT8OID);
	getTypeOutputInfo(fc.si.keytype, &outfn, &isvarlena);
	fmgr_info(outfn, &fc.keyout);
	fc.set = consent_set_lookup(fc.si.relid, fc.purpose, fc.si.byval);
	fc.gen = consent_gen;
	return consent_lookup(&fc, key);
}

bool
gdpr_has_consent(Oid subject_relid, Datum key, Oid keytype, const char *purpose)
{
	return consent_check_c(subject_relid, key, keytype, purpose, false);
}

bool
gdpr_may_process(Oid subject_relid, Datum key, Oid keytype, const char *purpose)
{
	return consent_check_c(subject_relid, key, keytype, purpose, true);
}

/* gdpr._consent_cache_builds(): how often this backend built a set */
PG_FUNCTION_INFO_V1(gdpr_consent_cache_builds);
Datum
gdpr_consent_cache_builds(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(consent_builds);
}

/* gdpr._consent_expires(purpose, at) */
PG_FUNCTION_INFO_V1(gdpr_consent_expires);
Datum
gdpr_consent_expires(PG_FUNCTION_ARGS)
{
	const GdprPurpose *p;
	char	   *name;
	TimestampTz at;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	p = purpose_lookup(name, true);
	if (p == NULL || !p->has_consent_valid_for)
		PG_RETURN_NULL();
	at = PG_GETARG_TIMESTAMPTZ(1);
	PG_RETURN_TIMESTAMPTZ(consent_expiry(p, at));
}

/* ------------------------------------------------------------------------
 * Grant and withdraw
 * ------------------------------------------------------------------------
 */

/* the calling role, also inside SECURITY DEFINER */
static char *
consent_actor(void)
{
	return GetUserNameFromId(GetOuterUserId(), false);
}

/* serialise changes of one (subject, key, purpose) until end of xact */
static void
consent_lock(Oid subject, const char *purpose, const char *keytext)
{
	LOCKTAG		tag;
	StringInfoData buf;
	uint32		h;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%u|%s|%s", subject, purpose, keytext);
	h = hash_bytes((const unsigned char *) buf.data, buf.len);
	pfree(buf.data);
	/* field4 = 0x6764 ('gd'): not an id pg_advisory_lock() uses (1, 2) */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, subject, h, 0x6764);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

static void
json_field(StringInfo buf, const char *name, const char *value, bool *first)
{
	if (!*first)
		appendStringInfoString(buf, ", ");
	*first = false;
	escape_json(buf, name);
	appendStringInfoString(buf, ": ");
	if (value == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, value);
}

static void
consent_audit(const char *action, Oid subject, Datum keyd, Oid keytype,
			  const char *purpose, int64 event_id, const char *method,
			  const char *policy_version, bool by_token)
{
	StringInfoData buf;
	bool		first = true;
	char		idbuf[32];
	Jsonb	   *details;

	snprintf(idbuf, sizeof(idbuf), INT64_FORMAT, event_id);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	json_field(&buf, "purpose", purpose, &first);
	appendStringInfo(&buf, ", \"event_id\": %s", idbuf);
	if (method)
		json_field(&buf, "method", method, &first);
	if (policy_version)
		json_field(&buf, "policy_version", policy_version, &first);
	if (by_token)
		appendStringInfoString(&buf, ", \"via\": \"token\"");
	appendStringInfoChar(&buf, '}');
	details = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
	gdpr_audit_append(action, gdpr_subject_ref(subject, keyd, keytype),
					  subject, details);
}

static void
check_method(const char *method)
{
	int			i;

	if (strcmp(method, "pre_ticked") == 0 || strcmp(method, "implied") == 0 ||
		strcmp(method, "opt_out") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("consent method \"%s\" does not give valid consent", method),
				 errdetail("Consent must be an unambiguous indication by a clear affirmative act (GDPR Art. 4(11), Art. 7); silence, pre-ticked boxes or inactivity are not consent (CJEU C-673/17, Planet49, recital 32)."),
				 errhint("Allowed methods: " VALID_METHODS_TEXT ".")));
	for (i = 0; valid_methods[i] != NULL; i++)
		if (strcmp(method, valid_methods[i]) == 0)
			return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown consent method \"%s\"", method),
			 errhint("Allowed methods: " VALID_METHODS_TEXT ".")));
}

static void
spi_connect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/*
 * Latest event of (subject, key, purpose): returns false when none; fills
 * id, action ('g'/'w') and at.
 */
static bool
latest_event(Oid subject, const char *purpose, const char *keytext,
			 int64 *id, char *action, TimestampTz *at, bool grants_only)
{
	Oid			argtypes[3] = {REGCLASSOID, TEXTOID, TEXTOID};
	Datum		values[3];
	int			ret;
	bool		isnull;

	values[0] = ObjectIdGetDatum(subject);
	values[1] = CStringGetTextDatum(purpose);
	values[2] = CStringGetTextDatum(keytext);
	ret = SPI_execute_with_args(grants_only ?
								"SELECT id, action, at FROM gdpr.consent_event"
								" WHERE subject = $1 AND purpose = $2 AND subject_key = $3"
								" AND action = 'grant' ORDER BY id DESC LIMIT 1" :
								"SELECT id, action, at FROM gdpr.consent_event"
								" WHERE subject = $1 AND purpose = $2 AND subject_key = $3"
								" ORDER BY id DESC LIMIT 1",
								3, argtypes, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading gdpr.consent_event failed: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed == 0)
		return false;
	*id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull));
	*action = *TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 2, &isnull));
	*at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 3, &isnull));
	return true;
}

PG_FUNCTION_INFO_V1(gdpr_grant_consent);
Datum
gdpr_grant_consent(PG_FUNCTION_ARGS)
{
	SubjectInfo si;
	Oid			keytype;
	Datum		keyd;
	char	   *keytext;
	char	   *purpose;
	char	   *method;
	const GdprPurpose *p;
	char	   *source = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	char	   *policy = PG_ARGISNULL(6) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(6));
	StringInfoData sql;
	Oid			argtypes[10];
	Datum		values[10];
	char		nulls[10];
	int			ret;
	bool		isnull;
	int64		id;

	GDPR_REQUIRE_ARG(0, "subject");
	GDPR_REQUIRE_ARG(1, "subject_key");
	GDPR_REQUIRE_ARG(2, "purpose");
	GDPR_REQUIRE_ARG(3, "method");

	purpose = text_to_cstring(PG_GETARG_TEXT_PP(2));
	method = text_to_cstring(PG_GETARG_TEXT_PP(3));
	check_method(method);
	p = gdpr_get_purpose(purpose);
	if (p->basis != GDPR_BASIS_CONSENT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("purpose \"%s\" is not based on consent", p->name),
				 errdetail("Its legal basis is %s; consent is recorded only for purposes whose legal basis is consent (Art. 6(1)(a)).",
						   gdpr_basis_name(p->basis)),
				 errhint("Process data for \"%s\" under its own basis, or define a purpose with legal_basis 'consent'.",
						 p->name)));

	subject_info(PG_GETARG_OID(0), &si);
	keytype = get_fn_expr_argtype(fcinfo->flinfo, 1);
	keyd = gdpr_coerce_key(PG_GETARG_DATUM(1), keytype, si.keytype, si.keytypmod);
	keytext = gdpr_key_text(keyd, si.keytype);

	consent_lock(si.relid, p->name, keytext);
	spi_connect();

	/* the subject must exist */
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT 1 FROM %s WHERE %s = $1 LIMIT 1",
					 gdpr_relation_name(si.relid),
					 quote_identifier(get_attname(si.relid, si.keyatt, false)));
	argtypes[0] = si.keytype;
	values[0] = keyd;
	ret = SPI_execute_with_args(sql.data, 1, argtypes, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "subject lookup failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no subject with key %s in %s", keytext,
						gdpr_relation_name(si.relid)),
				 errhint("Consent is recorded for existing subjects: insert the subject's row first.")));

	memset(nulls, ' ', sizeof(nulls));
	argtypes[0] = REGCLASSOID;
	values[0] = ObjectIdGetDatum(si.relid);
	argtypes[1] = TEXTOID;
	values[1] = CStringGetTextDatum(gdpr_relation_name(si.relid));
	argtypes[2] = TEXTOID;
	values[2] = CStringGetTextDatum(keytext);
	argtypes[3] = TEXTOID;
	values[3] = CStringGetTextDatum(p->name);
	argtypes[4] = TEXTOID;
	values[4] = CStringGetTextDatum(method);
	argtypes[5] = TEXTOID;
	values[5] = source ? CStringGetTextDatum(source) : (Datum) 0;
	nulls[5] = source ? ' ' : 'n';
	argtypes[6] = JSONBOID;
	values[6] = PG_ARGISNULL(5) ? (Datum) 0 : PG_GETARG_DATUM(5);
	nulls[6] = PG_ARGISNULL(5) ? 'n' : ' ';
	argtypes[7] = TEXTOID;
	values[7] = policy ? CStringGetTextDatum(policy) : (Datum) 0;
	nulls[7] = policy ? ' ' : 'n';
	argtypes[8] = NAMEOID;
	values[8] = DirectFunctionCall1(namein, CStringGetDatum(consent_actor()));
	ret = SPI_execute_with_args("INSERT INTO gdpr.consent_event"
								" (subject, subject_name, subject_key, purpose, action,"
								"  method, source, evidence, policy_version, actor)"
								" VALUES ($1, $2, $3, $4, 'grant', $5, $6, $7, $8, $9)"
								" RETURNING id",
								9, argtypes, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "recording consent failed: %s", SPI_result_code_string(ret));
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									 SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();

	consent_audit("consent.grant", si.relid, keyd, si.keytype, p->name, id,
				  method, policy, false);
	PG_RETURN_INT64(id);
}

/*
 * Withdraw the active consent of (subject, key, purpose).  SPI must be
 * connected.  Returns false when nothing was active.
 */
static bool
consent_withdraw(const SubjectInfo *si, Datum keyd, const char *keytext,
				 const GdprPurpose *p, const char *source, bool by_token)
{
	int64		id;
	char		action;
	TimestampTz at;
	Oid			argtypes[8];
	Datum		values[8];
	char		nulls[8];
	int			ret;
	bool		isnull;
	int64		wid;

	consent_lock(si->relid, p->name, keytext);
	if (!latest_event(si->relid, p->name, keytext, &id, &action, &at, false))
		return false;
	if (action != 'g')
		return false;
	if (consent_expiry(p, at) <= GetCurrentTransactionStartTimestamp())
		return false;			/* lapsed: nothing active */

	memset(nulls, ' ', sizeof(nulls));
	argtypes[0] = REGCLASSOID;
	values[0] = ObjectIdGetDatum(si->relid);
	argtypes[1] = TEXTOID;
	values[1] = CStringGetTextDatum(gdpr_relation_name(si->relid));
	argtypes[2] = TEXTOID;
	values[2] = CStringGetTextDatum(keytext);
	argtypes[3] = TEXTOID;
	values[3] = CStringGetTextDatum(p->name);
	argtypes[4] = INT8OID;
	values[4] = Int64GetDatum(id);
	argtypes[5] = TEXTOID;
	values[5] = source ? CStringGetTextDatum(source) : (Datum) 0;
	nulls[5] = source ? ' ' : 'n';
	argtypes[6] = NAMEOID;
	values[6] = DirectFunctionCall1(namein, CStringGetDatum(consent_actor()));
	ret = SPI_execute_with_args("INSERT INTO gdpr.consent_event"
								" (subject, subject_name, subject_key, purpose, action,"
								"  grant_id, source, actor)"
								" VALUES ($1, $2, $3, $4, 'withdraw', $5, $6, $7)"
								" RETURNING id",
								7, argtypes, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "recording withdrawal failed: %s", SPI_result_code_string(ret));
	wid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull));
	consent_audit("consent.withdraw", si->relid, keyd, si->keytype, p->name,
				  wid, NULL, NULL, by_token);
	return true;
}

PG_FUNCTION_INFO_V1(gdpr_withdraw_consent);
Datum
gdpr_withdraw_consent(PG_FUNCTION_ARGS)
{
	SubjectInfo si;
	Oid			keytype;
	Datum		keyd;
	char	   *keytext;
	const GdprPurpose *p;
	char	   *source;
	bool		result;

	GDPR_REQUIRE_ARG(0, "subject");
	GDPR_REQUIRE_ARG(1, "subject_key");
	GDPR_REQUIRE_ARG(2, "purpose");
	source = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));

	p = gdpr_get_purpose(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	subject_info(PG_GETARG_OID(0), &si);
	keytype = get_fn_expr_argtype(fcinfo->flinfo, 1);
	keyd = gdpr_coerce_key(PG_GETARG_DATUM(1), keytype, si.keytype, si.keytypmod);
	keytext = gdpr_key_text(keyd, si.keytype);

	spi_connect();
	result = consent_withdraw(&si, keyd, keytext, p, source, false);
	SPI_finish();
	PG_RETURN_BOOL(result);
}

/* ------------------------------------------------------------------------
 * Tokens: base64url(version || event id || HMAC-SHA256(secret, domain ||
 * version || event id)).  The event id is the grant the token was made
 * for: an opaque number, no personal data.
 * ------------------------------------------------------------------------
 */
#define TOKEN_VERSION		1
#define TOKEN_PAYLOAD		9	/* version + 8-byte id */
#define TOKEN_MAC			32
#define TOKEN_BYTES			(TOKEN_PAYLOAD + TOKEN_MAC)
#define TOKEN_MAX_TEXT		200
static const char token_domain[] = "gdpr_crm consent token";

static const char b64url[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void
token_mac(const unsigned char *payload, unsigned char *mac)
{
	unsigned char buf[sizeof(token_domain) + TOKEN_PAYLOAD];

	memcpy(buf, token_domain, sizeof(token_domain));
	memcpy(buf + sizeof(token_domain), payload, TOKEN_PAYLOAD);
	gdpr_hmac(buf, sizeof(buf), mac);
}

static char *
b64url_encode(const unsigned char *src, int len)
{
	StringInfoData out;
	int			i;
	uint32		acc = 0;
	int			bits = 0;

	initStringInfo(&out);
	for (i = 0; i < len; i++)
	{
		acc = (acc << 8) | src[i];
		bits += 8;
		while (bits >= 6)
		{
			bits -= 6;
			appendStringInfoChar(&out, b64url[(acc >> bits) & 0x3f]);
		}
	}
	if (bits > 0)
		appendStringInfoChar(&out, b64url[(acc << (6 - bits)) & 0x3f]);
	return out.data;
}

/* returns decoded length, or -1 on a character outside the alphabet */
static int
b64url_decode(const char *src, int srclen, unsigned char *dst, int dstmax)
{
	uint32		acc = 0;
	int			bits = 0;
	int			n = 0;
	int			i;

	for (i = 0; i < srclen; i++)
	{
		char		c = src[i];
		int			v;

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '-')
			v = 62;
		else if (c == '_')
			v = 63;
		else
			return -1;
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			if (n >= dstmax)
				return -1;
			dst[n++] = (acc >> bits) & 0xff;
		}
	}
	/* leftover bits must be zero padding */
	if (bits >= 6 || (acc & ((1 << bits) - 1)) != 0)
		return -1;
	return n;
}

static void
invalid_token(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid consent token"),
			 errdetail("%s", why),
			 errhint("Use the token exactly as gdpr.consent_token() returned it.")));
}

PG_FUNCTION_INFO_V1(gdpr_consent_token);
Datum
gdpr_consent_token(PG_FUNCTION_ARGS)
{
	SubjectInfo si;
	Oid			keytype;
	Datum		keyd;
	char	   *keytext;
	const GdprPurpose *p;
	int64		id;
	char		action;
	TimestampTz at;
	unsigned char tok[TOKEN_BYTES];
	int			i;
	bool		found;

	GDPR_REQUIRE_ARG(0, "subject");
	GDPR_REQUIRE_ARG(1, "subject_key");
	GDPR_REQUIRE_ARG(2, "purpose");

	p = gdpr_get_purpose(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	subject_info(PG_GETARG_OID(0), &si);
	keytype = get_fn_expr_argtype(fcinfo->flinfo, 1);
	keyd = gdpr_coerce_key(PG_GETARG_DATUM(1), keytype, si.keytype, si.keytypmod);
	keytext = gdpr_key_text(keyd, si.keytype);

	spi_connect();
	found = latest_event(si.relid, p->name, keytext, &id, &action, &at, true);
	SPI_finish();
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no consent for purpose \"%s\" was ever granted by this subject",
						p->name),
				 errhint("A token withdraws a consent; record it first with gdpr.grant_consent().")));

	tok[0] = TOKEN_VERSION;
	for (i = 0; i < 8; i++)
		tok[1 + i] = (unsigned char) (((uint64) id >> (56 - 8 * i)) & 0xff);
	token_mac(tok, tok + TOKEN_PAYLOAD);
	PG_RETURN_TEXT_P(cstring_to_text(b64url_encode(tok, TOKEN_BYTES)));
}

PG_FUNCTION_INFO_V1(gdpr_withdraw_by_token);
Datum
gdpr_withdraw_by_token(PG_FUNCTION_ARGS)
{
	text	   *t;
	int			len;
	unsigned char tok[TOKEN_BYTES + 1];
	unsigned char mac[TOKEN_MAC];
	unsigned char diff = 0;
	int			n;
	int			i;
	uint64		id = 0;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	int			ret;
	bool		isnull;
	Oid			subject;
	char	   *keytext;
	char	   *purpose;
	char	   *action;
	SubjectInfo si;
	const GdprPurpose *p;
	Datum		keyd;
	bool		result;

	GDPR_REQUIRE_ARG(0, "token");
	t = PG_GETARG_TEXT_PP(0);
	len = VARSIZE_ANY_EXHDR(t);
	if (len > TOKEN_MAX_TEXT)
		invalid_token("The token is too long.");
	n = b64url_decode(VARDATA_ANY(t), len, tok, sizeof(tok));
	if (n < 0)
		invalid_token("The token is not URL-safe base64.");
	if (n != TOKEN_BYTES)
		invalid_token("The token has the wrong length.");
	if (tok[0] != TOKEN_VERSION)
		invalid_token("Unknown token version.");
	token_mac(tok, mac);
	for (i = 0; i < TOKEN_MAC; i++)
		diff |= mac[i] ^ tok[TOKEN_PAYLOAD + i];
	if (diff != 0)
		invalid_token("The token's signature does not match.");
	for (i = 0; i < 8; i++)
		id = (id << 8) | tok[1 + i];

	spi_connect();
	values[0] = Int64GetDatum((int64) id);
	ret = SPI_execute_with_args("SELECT subject, subject_key, purpose, action"
								" FROM gdpr.consent_event WHERE id = $1",
								1, argtypes, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading gdpr.consent_event failed: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		/* signed by us, but its history was erased: nothing to withdraw */
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	subject = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1, &isnull));
	keytext = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	purpose = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	action = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);
	if (strcmp(action, "grant") != 0)
		invalid_token("The token does not refer to a consent.");

	p = gdpr_get_purpose(purpose);
	subject_info(subject, &si);
	keyd = gdpr_coerce_key(CStringGetTextDatum(keytext), TEXTOID, si.keytype,
						   si.keytypmod);
	result = consent_withdraw(&si, keyd, keytext, p, "token", true);
	SPI_finish();
	PG_RETURN_BOOL(result);
}

/* ------------------------------------------------------------------------
 * Append-only guard and erasure
 * ------------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(gdpr_consent_append_only);
Datum
gdpr_consent_append_only(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "gdpr._consent_append_only() must be called as a trigger");
	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) && consent_delete_allowed)
		return PointerGetDatum(trigdata->tg_trigtuple);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("the consent history is append-only"),
			 errdetail("Consent events are the proof of consent (GDPR Art. 7(1)); they are never changed or removed."),
			 errhint("Record a withdrawal with gdpr.withdraw_consent(); gdpr.erase() removes a subject's history.")));
	PG_RETURN_NULL();
}

/* delete with the guard opened; SPI must be connected */
static int64
consent_delete(const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	int			ret;

	consent_delete_allowed = true;
	PG_TRY();
	{
		ret = SPI_execute_with_args(sql, nargs, argtypes, values, NULL, false, 0);
	}
	PG_CATCH();
	{
		consent_delete_allowed = false;
		PG_RE_THROW();
	}
	PG_END_TRY();
	consent_delete_allowed = false;
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "deleting consent events failed: %s", SPI_result_code_string(ret));
	return (int64) SPI_processed;
}

int64
gdpr_consent_erase_subject(Oid subject_relid, Datum key, Oid keytype)
{
	SubjectInfo si;
	Datum		keyd;
	Oid			argtypes[2] = {REGCLASSOID, TEXTOID};
	Datum		values[2];
	int64		n;

	subject_info(subject_relid, &si);
	keyd = gdpr_coerce_key(key, keytype, si.keytype, si.keytypmod);
	values[0] = ObjectIdGetDatum(si.relid);
	values[1] = CStringGetTextDatum(gdpr_key_text(keyd, si.keytype));
	spi_connect();
	n = consent_delete("DELETE FROM gdpr.consent_event"
					   " WHERE subject = $1 AND subject_key = $2",
					   2, argtypes, values);
	SPI_finish();
	return n;
}

int64
gdpr_consent_forget_relation(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	int64		n;

	values[0] = ObjectIdGetDatum(relid);
	spi_connect();
	n = consent_delete("DELETE FROM gdpr.consent_event WHERE subject::oid = $1",
					   1, argtypes, values);
	SPI_finish();
	return n;
}
