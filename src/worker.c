/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The retention background worker (API section 6) and its settings.
 *
 * With shared_preload_libraries = 'gdpr_crm' a static "launcher" worker is
 * registered.  It connects to no database (it only reads the shared
 * catalog pg_database) and keeps one dynamic worker running per database
 * named in gdpr.database (a comma-separated list), starting and stopping
 * them as that setting changes on reload (SIGHUP), and restarting one that
 * died.  pg_cron's launcher is the model.
 *
 * Each database worker wakes every gdpr.retention_naptime seconds and, unless
 * gdpr.retention_enabled is off, the server is a standby, or the extension
 * is not installed in its database, runs one pass: for every relation with
 * expiry rules (children before the rows they reference), batches of at
 * most gdpr.retention_batch_size rows, each batch in a transaction of its
 * own, rows locked by applications skipped (FOR UPDATE SKIP LOCKED).  A
 * batch that fails is rolled back (a subtransaction), logged in
 * gdpr.retention_run with its error, and the pass goes on with the next
 * relation.  Every batch is atomic, so a crash leaves nothing half-done.
 *
 * The settings are defined even without preload, so SHOW works after a
 * plain LOAD; all of them are PGC_SIGHUP (reload, no restart).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "access/xlog.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "gdpr.h"
#include "graph.h"
#include "retention.h"

PGDLLEXPORT void gdpr_retention_launcher_main(Datum main_arg);
PGDLLEXPORT void gdpr_retention_worker_main(Datum main_arg);

char	   *gdpr_database = NULL;
int			gdpr_retention_naptime = 60;
int			gdpr_retention_batch_size = 10000;
bool		gdpr_retention_enabled = true;
int			gdpr_retention_runs_keep = 7 * 24 * 60;

#define LAUNCHER_NAME	"gdpr_crm retention launcher"
#define WORKER_TYPE		"gdpr_crm retention worker"

/* batches per relation and pass, so one relation cannot starve the rest */
#define MAX_BATCHES 1000

/* how long a worker waits for a lock an application holds (ms) */
#define WORKER_LOCK_TIMEOUT "2000"

static bool
check_database_list(char **newval, void **extra, GucSource source)
{
	char	   *raw = pstrdup(*newval);
	List	   *names = NIL;
	bool		ok = SplitGUCList(raw, ',', &names);

	if (!ok)
		GUC_check_errdetail("gdpr.database must be a comma-separated list of database names, e.g. 'postgres, crm'.");
	list_free(names);
	pfree(raw);
	return ok;
}

void
gdpr_worker_init(void)
{
	BackgroundWorker worker;

	DefineCustomStringVariable("gdpr.database",
							   "Databases the gdpr_crm retention worker serves (comma-separated).",
							   "One worker runs per listed database; databases without the extension are left alone.",
							   &gdpr_database,
							   "postgres",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   check_database_list, NULL, NULL);
	DefineCustomIntVariable("gdpr.retention_naptime",
							"Time the retention worker sleeps between passes.",
							NULL,
							&gdpr_retention_naptime,
							60, 1, INT_MAX / 1000,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("gdpr.retention_batch_size",
							"Rows the retention worker handles per transaction.",
							NULL,
							&gdpr_retention_batch_size,
							10000, 1, 100000000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("gdpr.retention_enabled",
							 "Whether the retention worker expires data.",
							 NULL,
							 &gdpr_retention_enabled,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("gdpr.retention_runs_keep",
							"How long rows of gdpr.retention_runs are kept (-1: forever).",
							NULL,
							&gdpr_retention_runs_keep,
							7 * 24 * 60, -1, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MIN,
							NULL, NULL, NULL);

	if (!gdpr_preloaded)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "gdpr_crm");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "gdpr_retention_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, LAUNCHER_NAME);
	snprintf(worker.bgw_type, BGW_MAXLEN, LAUNCHER_NAME);
	worker.bgw_main_arg = (Datum) 0;
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);
}

/* ------------------------------------------------------------------------
 * Launcher
 * ------------------------------------------------------------------------
 */
typedef struct DbSlot
{
	char		name[NAMEDATALEN];
	Oid			dboid;
	BackgroundWorkerHandle *handle;
	bool		warned;			/* missing database already reported */
	bool		nostart_warned; /* no free worker slot already reported */
	bool		wanted;			/* still listed */
} DbSlot;

static List *slots = NIL;		/* DbSlot *, in TopMemoryContext */

/*
 * The database's OID, or InvalidOid.  A heap scan of pg_database, like the
 * autovacuum launcher's: a worker bound to no database cannot open the
 * (non-nailed) indexes of pg_database before the relcache init file exists.
 */
static Oid
lookup_database(const char *name)
{
	Oid			dboid = InvalidOid;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (strcmp(NameStr(db->datname), name) == 0)
		{
			dboid = db->oid;
			break;
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return dboid;
}

static bool
start_db_worker(DbSlot *slot)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = BGW_NEVER_RESTART;	/* the launcher does it */
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "gdpr_crm");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "gdpr_retention_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s for database %s", WORKER_TYPE, slot->name);
	snprintf(worker.bgw_type, BGW_MAXLEN, WORKER_TYPE);
	worker.bgw_main_arg = ObjectIdGetDatum(slot->dboid);
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &slot->handle))
	{
		/* retried every naptime; said once until it works */
		slot->handle = NULL;
		if (!slot->nostart_warned)
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("gdpr_crm: could not start the retention worker for database \"%s\"",
							slot->name),
					 errdetail("No background worker slot is free: each database in gdpr.database needs one, besides the launcher."),
					 errhint("Raise max_worker_processes (a restart is needed).")));
		slot->nostart_warned = true;
		return false;
	}
	if (slot->nostart_warned)
		ereport(LOG,
				(errmsg("gdpr_crm: retention worker for database \"%s\" started", slot->name)));
	slot->nostart_warned = false;
	return true;
}

static void
stop_db_worker(DbSlot *slot)
{
	if (slot->handle != NULL)
	{
		TerminateBackgroundWorker(slot->handle);
		pfree(slot->handle);
		slot->handle = NULL;
	}
}

/*
 * Bring the running workers in line with gdpr.database: stop the ones no
 * longer listed, start the missing ones, restart the ones that died.
 */
static void
sync_workers(void)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	char	   *raw = pstrdup(gdpr_database ? gdpr_database : "");
	List	   *names = NIL;
	ListCell   *lc;
	List	   *keep = NIL;

	if (!SplitGUCList(raw, ',', &names))
		names = NIL;			/* checked by the GUC hook already */

	foreach(lc, slots)
		((DbSlot *) lfirst(lc))->wanted = false;

	foreach(lc, names)
	{
		char	   *name = (char *) lfirst(lc);
		DbSlot	   *slot = NULL;
		ListCell   *lc2;

		if (name[0] == '\0')
			continue;
		foreach(lc2, slots)
		{
			DbSlot	   *s = (DbSlot *) lfirst(lc2);

			if (strcmp(s->name, name) == 0)
			{
				slot = s;
				break;
			}
		}
		if (slot == NULL)
		{
			slot = palloc0(sizeof(DbSlot));
			strlcpy(slot->name, name, NAMEDATALEN);
			slots = lappend(slots, slot);
		}
		slot->wanted = true;
	}

	foreach(lc, slots)
	{
		DbSlot	   *slot = (DbSlot *) lfirst(lc);

		if (!slot->wanted)
		{
			stop_db_worker(slot);
			pfree(slot);
			continue;
		}
		keep = lappend(keep, slot);

		if (slot->handle != NULL)
		{
			pid_t		pid;

			if (GetBackgroundWorkerPid(slot->handle, &pid) != BGWH_STOPPED)
				continue;
			pfree(slot->handle);
			slot->handle = NULL;
		}

		/* (re)start: the database may have been dropped or created since */
		slot->dboid = lookup_database(slot->name);
		if (!OidIsValid(slot->dboid))
		{
			if (!slot->warned)
				ereport(WARNING,
						(errcode(ERRCODE_UNDEFINED_DATABASE),
						 errmsg("gdpr_crm: database \"%s\" in gdpr.database does not exist",
								slot->name),
						 errhint("List existing databases in gdpr.database, separated by commas.")));
			slot->warned = true;
			continue;
		}
		slot->warned = false;
		start_db_worker(slot);
	}
	list_free(slots);
	slots = keep;
	list_free(names);
	pfree(raw);
	MemoryContextSwitchTo(old);
}

static void
launcher_exit(int code, Datum arg)
{
	ListCell   *lc;

	foreach(lc, slots)
		stop_db_worker((DbSlot *) lfirst(lc));
}

void
gdpr_retention_launcher_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* no database: only the shared catalogs (pg_database) are read */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname(LAUNCHER_NAME);
	before_shmem_exit(launcher_exit, (Datum) 0);

	ereport(LOG,
			(errmsg("gdpr_crm retention launcher started for databases \"%s\"",
					gdpr_database ? gdpr_database : "")));

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		sync_workers();

		/*
		 * Woken by the latch on SIGHUP and when a worker starts or stops
		 * (bgw_notify_pid); otherwise a dead worker is restarted after one
		 * naptime.
		 */
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) gdpr_retention_naptime * 1000L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ------------------------------------------------------------------------
 * Database worker
 * ------------------------------------------------------------------------
 */

/* start a transaction of the worker's own, with SPI and a snapshot */
static void
worker_begin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

static void
worker_commit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * One batch of one relation in its own transaction.  Returns the number of
 * rows it changed, or -1 when it failed (the failure is logged in
 * gdpr.retention_run and the batch rolled back).
 */
/*
 * In the PG_CATCH of an internal subtransaction begun in cxt under owner:
 * roll it back, restore both, and return the error's message only (its
 * details may quote values).
 */
static char *
rollback_subxact_message(MemoryContext cxt, ResourceOwner owner)
{
	ErrorData  *edata;
	char	   *msg;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	msg = pstrdup(edata->message ? edata->message : "unknown error");
	FreeErrorData(edata);
	return msg;
}

static int64
worker_batch(Oid relid, int batch_size)
{
	MemoryContext oldcxt;
	ResourceOwner oldowner;
	TimestampTz started = GetCurrentTimestamp();
	List	   *steps = NIL;
	char	   *errtext = NULL;
	int64		total = 0;
	char		activity[200];

	snprintf(activity, sizeof(activity), "gdpr retention: expiring relation %u", relid);
	worker_begin(activity);

	/* dropped since the pass began */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
	{
		worker_commit();
		return 0;
	}

	oldcxt = CurrentMemoryContext;
	oldowner = CurrentResourceOwner;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		steps = gdpr_expire_relation(relid, batch_size, false, true);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		errtext = rollback_subxact_message(oldcxt, oldowner);
	}
	PG_END_TRY();

	if (errtext != NULL)
	{
		ereport(LOG,
				(errmsg("gdpr_crm retention: expiring relation \"%s\" failed: %s",
						get_rel_name(relid) ? get_rel_name(relid) : "?", errtext)));
		gdpr_record_run(started, GetCurrentTimestamp(), relid, NULL, 0,
						errtext, "worker");
		total = -1;
	}
	else
	{
		ListCell   *lc;
		TimestampTz finished = GetCurrentTimestamp();

		foreach(lc, steps)
		{
			GdprPlanStep *step = (GdprPlanStep *) lfirst(lc);

			gdpr_record_run(started, finished, step->relid, step->action,
							step->rows, NULL, "worker");
			total += step->rows;
		}
	}
	worker_commit();
	return total;
}

static void
worker_pass(void)
{
	MemoryContext passcxt;
	MemoryContext oldcxt;
	List	   *rels = NIL;
	ListCell   *lc;
	bool		installed;

	passcxt = AllocSetContextCreate(TopMemoryContext, "gdpr retention pass",
									ALLOCSET_DEFAULT_SIZES);

	worker_begin("gdpr retention: planning");
	installed = gdpr_extension_installed();
	if (installed)
	{
		MemoryContext cxt = CurrentMemoryContext;
		ResourceOwner owner = CurrentResourceOwner;

		/* a failure here skips this pass; the worker stays */
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(cxt);
		PG_TRY();
		{
			List	   *found;

			gdpr_prune_runs();
			found = gdpr_expirable_relations();
			oldcxt = MemoryContextSwitchTo(passcxt);
			rels = list_copy(found);
			MemoryContextSwitchTo(oldcxt);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(cxt);
			CurrentResourceOwner = owner;
		}
		PG_CATCH();
		{
			/* rolled back before ereport, which starts a new error entry */
			char	   *msg = rollback_subxact_message(cxt, owner);

			ereport(LOG,
					(errmsg("gdpr_crm retention: planning the pass failed: %s",
							msg)));
			rels = NIL;
		}
		PG_END_TRY();
	}
	worker_commit();

	foreach(lc, rels)
	{
		Oid			relid = lfirst_oid(lc);

		/* at most MAX_BATCHES per relation and pass; the next pass goes on */
		for (int nbatch = 0; nbatch < MAX_BATCHES; nbatch++)
		{
			int64		done;
			int			batch = gdpr_retention_batch_size;

			CHECK_FOR_INTERRUPTS();
			if (ConfigReloadPending)
			{
				ConfigReloadPending = false;
				ProcessConfigFile(PGC_SIGHUP);
				if (!gdpr_retention_enabled)
					break;
			}
			done = worker_batch(relid, batch);
			/* failed, or less than a full batch left: next relation */
			if (done < batch)
				break;
		}
		if (!gdpr_retention_enabled)
			break;
	}
	MemoryContextDelete(passcxt);
}

void
gdpr_retention_worker_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname(WORKER_TYPE);

	/* never queue behind an application for long; never time out a batch */
	SetConfigOption("lock_timeout", WORKER_LOCK_TIMEOUT, PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("application_name", WORKER_TYPE, PGC_USERSET, PGC_S_OVERRIDE);
	SetConfigOption("jit", "off", PGC_USERSET, PGC_S_OVERRIDE);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/* a standby cannot write: idle until promoted */
		if (gdpr_retention_enabled && !RecoveryInProgress())
			worker_pass();

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) gdpr_retention_naptime * 1000L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
