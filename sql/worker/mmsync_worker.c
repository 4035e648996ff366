/*
 * mmsync_worker: a background worker that runs mmsync's Java engine inside PostgreSQL through
 * PL/Java. Loaded with shared_preload_libraries; the postmaster starts it once the server accepts
 * connections and restarts it after mmsync.worker_restart_seconds when it exits with code 1.
 *
 * The worker's main loop calls the Java entry point mmsync.worker_tick() in a short transaction
 * every mmsync.worker_tick_ms. The first tick starts the engine on Java threads of its own, which
 * keep running between ticks and reach the databases only over pgJDBC (so they commit batch by
 * batch); later ticks pass the engine's log records to the server log and report its state.
 * No transaction stays open between ticks, so the worker never holds back vacuum's horizon.
 *
 * Stopping: SIGTERM (pg_terminate_backend, or a fast shutdown) only sets a flag and the latch.
 * PostgreSQL's own handler would end the process from inside whatever SPI call Java is making,
 * which on JDK 17 crashed the backend and so restarted the whole cluster. Here the main loop sees
 * the flag between ticks, calls mmsync.worker_stop() (the engine stops, its threads end) and exits
 * with code 1: after pg_terminate_backend the postmaster starts the worker again; during a
 * shutdown it does not.
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_MODULE_MAGIC;

void		_PG_init(void);
PGDLLEXPORT void mmsync_worker_main(Datum arg);

PG_FUNCTION_INFO_V1(mmsync_worker_backend);
PG_FUNCTION_INFO_V1(mmsync_worker_check);

static char *worker_database = NULL;
static char *worker_role = NULL;
static char *worker_conninfo = NULL;
static char *worker_jar = NULL;
static bool worker_enabled = true;
static int	worker_tick_ms = 200;
static int	worker_restart_seconds = 5;

/* Set by the library when shared_preload_libraries loaded it (not a later LOAD). */
static bool preloaded = false;
/* True only in the mmsync worker process itself. */
static bool am_worker = false;
static volatile sig_atomic_t got_sigterm = false;

static void
mmsync_worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

void
_PG_init(void)
{
	BackgroundWorker worker;

	DefineCustomStringVariable("mmsync.worker_database",
							   "Database whose mmsync node the in-server worker runs (empty: no worker; read at server start and when the worker restarts).",
							   NULL, &worker_database, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("mmsync.worker_role",
							   "Role the mmsync worker connects as (empty: the bootstrap superuser).",
							   NULL, &worker_role, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mmsync.worker_restart_seconds",
							"How long the postmaster waits before it starts the mmsync worker again after it ended (read at server start).",
							NULL, &worker_restart_seconds, 5, 1, 3600, PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomStringVariable("mmsync.worker_conninfo",
							   "How the worker's engine connects (over pgJDBC) to its own database "
							   "(empty: host=127.0.0.1, this server's port, mmsync.worker_database, the worker's role).",
							   NULL, &worker_conninfo, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("mmsync.worker_jar",
							   "The engine jar (with pgJDBC and Gson) the worker loads its engine from.",
							   NULL, &worker_jar, "/usr/local/lib/mmsync/mmsync.jar", PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomBoolVariable("mmsync.worker_enabled",
							 "Whether the mmsync worker runs the engine (off: it stops the engine and idles, so an agent can take the node over).",
							 NULL, &worker_enabled, true, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mmsync.worker_tick_ms",
							"How often the mmsync worker's main thread looks at the engine and stop requests.",
							NULL, &worker_tick_ms, 200, 20, 5000, PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	/* no MarkGUCPrefixReserved("mmsync"): the engine's applies set mmsync.origin, a placeholder */

	if (!process_shared_preload_libraries_in_progress)
		return;
	preloaded = true;
	if (worker_database[0] == '\0')
	{
		ereport(LOG, (errmsg("mmsync_worker: mmsync.worker_database is not set; no mmsync worker starts"),
					  errhint("Set mmsync.worker_database to the database of the mmsync node and restart the server.")));
		return;
	}
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = worker_restart_seconds;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "mmsync_worker");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "mmsync_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "mmsync worker for database %s", worker_database);
	snprintf(worker.bgw_type, BGW_MAXLEN, "mmsync worker");
	RegisterBackgroundWorker(&worker);
}

/*
 * Runs one SQL statement returning one text value in its own transaction; returns a palloc'd copy
 * in the caller's context (NULL for SQL NULL). Errors propagate.
 */
static char *
run_text(const char *sql)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *result = NULL;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, sql);
	if (SPI_execute(sql, false, 1) < 0)
		elog(ERROR, "mmsync worker: SPI_execute failed: %s", sql);
	if (SPI_processed > 0)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v != NULL)
			result = MemoryContextStrdup(caller, v);
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return result;
}

/*
 * Calls a function without arguments returning text, e.g. "mmsync.worker_tick()", in its own
 * transaction; returns a palloc'd copy in the caller's context. Called through fmgr rather than
 * SPI, so the log lines the Java side writes carry no "SQL statement" context. Errors propagate.
 */
static char *
run_call(const char *signature)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *result;
	Oid			fn;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, signature);
	fn = DatumGetObjectId(DirectFunctionCall1(regprocedurein, CStringGetDatum(signature)));
	result = MemoryContextStrdup(caller, TextDatumGetCString(OidFunctionCall0(fn)));
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return result;
}

/*
 * Runs sql (or, with is_call, calls the function it names) like run_text, but an error is logged
 * (with the fix in its hint) instead of ending the worker; *failed says whether it did.
 */
static char *
try_run(const char *sql, bool is_call, bool *failed)
{
	MemoryContext ctx = CurrentMemoryContext;
	char	   *result = NULL;

	*failed = false;
	PG_TRY();
	{
		result = is_call ? run_call(sql) : run_text(sql);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(ctx);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
		ereport(WARNING,
				(errmsg("mmsync worker: %s failed: %s", sql, edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
				 errhint("%s", edata->hint ? edata->hint
						 : "Check that PL/Java works in this database (SELECT sqlj.get_classpath('mmsync')) and that installer/install.sh --pljava ran; the worker retries every 10 s.")));
		FreeErrorData(edata);
		*failed = true;
	}
	PG_END_TRY();
	return result;
}

/*
 * Runs a Java entry point with SIGTERM blocked, so a terminate waits until the call has returned.
 * PL/Java installs its own SIGTERM handler when it starts the JVM (one that sets ProcDiePending,
 * so the next CHECK_FOR_INTERRUPTS, possibly inside an SPI call made from Java, ends the process
 * with Java on the stack: the crash seen on JDK 17). So ours goes back in after every call, and a
 * die request PL/Java's handler recorded becomes our stop flag. Threads the JVM and the engine
 * start during a call inherit the blocked mask, so the signal always reaches the main thread.
 */
static char *
call_java(const char *signature, bool *failed)
{
	sigset_t	block;
	sigset_t	old;
	char	   *r;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	r = try_run(signature, true, failed);
	pqsignal(SIGTERM, mmsync_worker_sigterm);
	if (ProcDiePending)
	{
		ProcDiePending = false;
		got_sigterm = true;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}

/* What is missing before the Java entry point can run here, or NULL. */
static const char *PREREQ_SQL =
"SELECT CASE"
" WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'mmsync')"
"  THEN 'the extension mmsync is not installed in database ' || pg_catalog.current_database()"
"       || ': CREATE EXTENSION mmsync there, or point mmsync.worker_database at the mmsync node''s database'"
" WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_language WHERE lanname = 'javau')"
"  THEN 'PL/Java is not installed in database ' || pg_catalog.current_database()"
"       || ': install PL/Java (postgresql-15-pljava, or installer/pljava.sh), set pljava.libjvm_location,'"
"       || ' then run installer/install.sh --pljava'"
" WHEN coalesce(pg_catalog.current_setting('pljava.libjvm_location', true), '') = ''"
"  THEN 'pljava.libjvm_location is not set: set it to the libjvm.so of a JDK 17 (for example"
"       /usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so) in postgresql.conf and reload'"
" WHEN pg_catalog.to_regprocedure('mmsync.worker_tick()') IS NULL"
"  THEN 'the Java entry points of mmsync are not declared in database ' || pg_catalog.current_database()"
"       || ': run installer/install.sh --pljava'"
" END";

/* Waits ms, or less when a stop was requested or the configuration was reloaded. */
static void
wait_or_stop(long ms)
{
	TimestampTz end = GetCurrentTimestamp() + (TimestampTz) ms * 1000;

	while (!got_sigterm)
	{
		long		left = (long) ((end - GetCurrentTimestamp()) / 1000);

		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, left, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			break;
		}
	}
}

void
mmsync_worker_main(Datum arg)
{
	bool		started = false;
	char	   *last_problem = NULL;

	pqsignal(SIGTERM, mmsync_worker_sigterm);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	am_worker = true;
	BackgroundWorkerInitializeConnection(worker_database, worker_role[0] ? worker_role : NULL, 0);
	pgstat_report_appname("mmsync worker");
	ereport(LOG, (errmsg("mmsync worker started for database %s (pid %d)", worker_database, MyProcPid)));

	while (!got_sigterm)
	{
		bool		failed;
		char	   *r;

		if (!worker_enabled)
		{
			if (started)
			{
				r = call_java("mmsync.worker_stop()", &failed);
				ereport(LOG, (errmsg("mmsync worker: mmsync.worker_enabled is off: %s; the worker idles until it is on again",
									 failed ? "the engine's stop failed" : (r ? r : "stopped"))));
				started = false;
			}
			wait_or_stop(1000L);
			continue;
		}
		if (!started)
		{
			char	   *problem;

			if (ConfigReloadPending)
			{
				ConfigReloadPending = false;
				ProcessConfigFile(PGC_SIGHUP);
			}
			problem = try_run(PREREQ_SQL, false, &failed);

			if (failed || problem != NULL)
			{
				if (problem != NULL && (last_problem == NULL || strcmp(problem, last_problem) != 0))
				{
					ereport(WARNING, (errmsg("mmsync worker: cannot start the engine: %s", problem),
									  errhint("The worker checks again every 10 s.")));
					last_problem = problem;
				}
				wait_or_stop(10000L);
				continue;
			}
		}
		r = call_java("mmsync.worker_tick()", &failed);
		if (failed)
		{
			wait_or_stop(10000L);
			continue;
		}
		if (!started)
			ereport(LOG, (errmsg("mmsync worker: engine started (%s)", r ? r : "")));
		started = true;
		if (r != NULL && strncmp(r, "engine ended", 12) == 0)
		{
			ereport(WARNING, (errmsg("mmsync worker: %s; the worker exits and starts again", r)));
			proc_exit(1);
		}
		wait_or_stop(worker_tick_ms);
	}
	if (started)
	{
		bool		failed;
		char	   *r = call_java("mmsync.worker_stop()", &failed);

		ereport(LOG, (errmsg("mmsync worker: stopping (%s)", failed ? "the engine's stop failed" : (r ? r : "stopped"))));
	}
	/* exit code 1: the postmaster starts the worker again after a terminate, not during shutdown */
	proc_exit(1);
}

/* mmsync._worker_backend(): true only in the mmsync worker (the Java entry point refuses others). */
Datum
mmsync_worker_backend(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(am_worker);
}

/* mmsync.worker_check(): what keeps the worker from running here, or 'ok'. */
Datum
mmsync_worker_check(PG_FUNCTION_ARGS)
{
	const char *db = get_database_name(MyDatabaseId);

	if (!preloaded)
		PG_RETURN_TEXT_P(cstring_to_text(
			"mmsync_worker is not in shared_preload_libraries: add it there (ALTER SYSTEM SET shared_preload_libraries = "
			"'mmsync_worker', keeping any libraries already listed), set mmsync.worker_database, and restart the server"));
	if (worker_database[0] == '\0')
		PG_RETURN_TEXT_P(cstring_to_text(
			"mmsync.worker_database is not set: ALTER SYSTEM SET mmsync.worker_database = '<the node's database>' and restart the server"));
	if (db == NULL || strcmp(db, worker_database) != 0)
		PG_RETURN_TEXT_P(cstring_to_text(psprintf(
			"the mmsync worker serves database %s, not this one (%s): set mmsync.worker_database and restart the server",
			worker_database, db ? db : "?")));
	PG_RETURN_TEXT_P(cstring_to_text("ok"));
}
