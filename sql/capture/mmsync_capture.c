/*
 * mmsync_capture: the row capture trigger mmsync.capture() written in C (issue 14).
 *
 * It queues exactly the row the PL/pgSQL trigger (sql/src/functions/10_capture.sql) queues:
 * id = nextval(change_queue_id_seq), into changes_<(id >> 24) % 3>, xid = pg_current_xact_id(),
 * sync_id = TG_ARGV[0], relid, op 'I'/'U'/'D', at = clock_timestamp(), old and new as
 * to_jsonb(OLD/NEW), with the json columns named in TG_ARGV[1] kept as their exact text (a JSON
 * string; JSON null and SQL NULL as null) -- then the idle-sender wake-up (shared advisory lock
 * 1835889529/sync id, NOTIFY mmsync_changes when it cannot be had). One difference: the old image
 * of an UPDATE holds only the columns the update changed (new || old is the whole old row; the
 * view mmsync.changes, which every reader uses, shows that), where PL/pgSQL queues all of it.
 *
 * What it saves per row: PL/pgSQL's interpreter, the SQL INSERT's executor start-up and
 * shut-down (the row goes in with heap_insert and index_insert; indexes of plain columns only),
 * to_jsonb's per-column type lookups for common column types (bool, int2/4/8, text, varchar,
 * char, date, timestamp, timestamptz are encoded here the way to_jsonb encodes them; every other
 * type goes through to_jsonb itself, one column at a time), the SECURITY DEFINER switch (nothing
 * here checks privileges: it writes the queue as the extension's own code), the advisory
 * lock after the first row of a (sub)transaction, the queue table's and index's locks after the
 * first row into that table in a (sub)transaction, the search for mmsync.origin by name (the
 * library defines that setting), and the unchanged columns of an update's old image.
 *
 * Per trigger it caches the columns' encodings; per database the queue tables, their indexes and
 * the sequence; both are dropped on any relcache invalidation of the tables concerned.
 * The queue tables' columns are checked against what this file fills: a column it does not know
 * (a later version's) is an error naming the fix, never a row with a default left out.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type_d.h"
#include "commands/sequence.h"
#include "commands/copy.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/primnodes.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(mmsync_capture);
PG_FUNCTION_INFO_V1(mmsync_capture_keyless);
PG_FUNCTION_INFO_V1(mmsync_capture_version);
PG_FUNCTION_INFO_V1(mmsync_capturing);

#define CAPTURE_VERSION "mmsync_capture 4"	/* 2: an update's old image holds the changed columns; 3: capture_keyless;
											 * 4: the applier's statements skip the capture triggers */
#define CAPTURE_TRIGGER_NAME "mmsync_capture"	/* the row trigger @extschema@._attach_table creates */
#define WAKE_LOCK_KEY 1835889529	/* 'mmsy', as io.mmsync.engine.send.Wakeup */
#define QUEUE_TABLES 3

/* how one column of a captured table is encoded */
typedef enum ColKind
{
	COL_BOOL,
	COL_INT,					/* int2, int4, int8: a JSON number */
	COL_TEXT,					/* text, varchar, char: a JSON string of the value */
	COL_DATETIME,				/* date, timestamp, timestamptz: JsonEncodeDateTime */
	COL_JSON_TEXT,				/* json named in TG_ARGV[1]: its exact text as a string */
	COL_OTHER					/* to_jsonb of the value */
} ColKind;

typedef struct ColInfo
{
	char	   *name;
	int			namelen;
	ColKind		kind;
	Oid			typid;
	int16		typlen;
	bool		typbyval;
	FmgrInfo	tojsonb;		/* COL_OTHER: to_jsonb with this column's type */
} ColInfo;

/* one per trigger (keyed by trigger oid) */
typedef struct TrigCache
{
	Oid			tgoid;
	Oid			relid;
	int32		sync_id;
	int			natts;
	ColInfo    *cols;			/* natts entries; name NULL for dropped columns */
	int			nkeys;			/* columns not dropped */
	int		   *order;			/* their indexes in cols, in jsonb key order */
	struct TrigCache *next;
} TrigCache;

/* the queue's columns, by attribute number in each queue table */
enum
{
	Q_ID, Q_XID, Q_SYNC_ID, Q_RELID, Q_OP, Q_AT, Q_OLD, Q_NEW, Q_NCOLS
};
static const char *const q_names[Q_NCOLS] = {"id", "xid", "sync_id", "relid", "op", "at", "old", "new"};
static const Oid q_types[Q_NCOLS] = {INT8OID, XID8OID, INT4OID, OIDOID, CHAROID, TIMESTAMPTZOID, JSONBOID, JSONBOID};

typedef struct QueueTable
{
	Oid			relid;
	Oid			owner;
	bool		by_sql;			/* columns or indexes the direct path cannot fill: INSERT through SPI */
	bool		by_sql_base;
	SPIPlanPtr	plan;			/* by_sql: the saved INSERT (freed on reset) */
	char	   *insert_sql;
	int			natts;
	AttrNumber	attnum[Q_NCOLS];
	int			nindexes;
	Oid		   *indexes;
	IndexInfo **indexinfo;
} QueueTable;

typedef struct QueueCache
{
	bool		valid;
	Oid			nspid;
	Oid			seqid;
	QueueTable	tables[QUEUE_TABLES];
} QueueCache;

static MemoryContext cache_cxt = NULL;	/* the queue's tables, indexes, sequence */
static MemoryContext trig_cxt = NULL;	/* the triggers' column encodings */
static TrigCache *trig_caches = NULL;
static QueueCache queue = {false};

/*
 * mmsync.origin, defined here so that reading it per row is a pointer's deref, not a search of
 * the settings by name (the applier sets it with set_config or SET LOCAL as before; a value set
 * while it was a placeholder, before this library was loaded, is kept)
 */
static char *origin_setting = NULL;
static bool origin_defined = false;	/* else (another copy of this library defined it) by name */

/* the queue tables (bit i: changes_i) and their indexes locked in this (sub)transaction */
static LocalTransactionId lock_lxid = InvalidLocalTransactionId;
static SubTransactionId lock_subxid = InvalidSubTransactionId;
static int	locked_slots = 0;

/* the wake-up was done for this sync in this (sub)transaction */
static LocalTransactionId wake_lxid = InvalidLocalTransactionId;
static SubTransactionId wake_subxid = InvalidSubTransactionId;
static int32 wake_sync_id = 0;

/*
 * Called during invalidation processing, which can happen inside any catalog access of a
 * capture call: it only marks the caches stale; they are freed and rebuilt at a safe point
 * (start of a call, or after the queue table's lock is taken), never under a pointer in use.
 */
static bool need_reset = false;		/* everything */
static bool need_trig_reset = false;	/* the triggers' caches (DDL, ANALYZE of a synced table) */

static void
reset_trig_caches(void)
{
	need_trig_reset = false;
	trig_caches = NULL;
	MemoryContextReset(trig_cxt);
}

static void
reset_caches(void)
{
	int			i;

	need_reset = false;
	locked_slots = 0;			/* the tables may be others now: lock them again */
	for (i = 0; i < QUEUE_TABLES; i++)
	{
		if (queue.valid && queue.tables[i].plan != NULL)
			SPI_freeplan(queue.tables[i].plan);
		queue.tables[i].plan = NULL;
	}
	queue.valid = false;
	MemoryContextReset(cache_cxt);
	reset_trig_caches();
}

static void
relcache_callback(Datum arg, Oid relid)
{
	TrigCache  *t;
	int			i,
				j;

	if (!OidIsValid(relid) || !queue.valid)
	{
		need_reset = true;
		return;
	}
	if (relid == queue.seqid)
		need_reset = true;
	for (i = 0; i < QUEUE_TABLES; i++)
	{
		if (queue.tables[i].relid == relid)
			need_reset = true;
		for (j = 0; j < queue.tables[i].nindexes; j++)
			if (queue.tables[i].indexes[j] == relid)
				need_reset = true;
	}
	for (t = trig_caches; t != NULL; t = t->next)
		if (t->relid == relid)
			need_trig_reset = true;
}

/* whether this session applies a peer's changes now (mmsync.origin set): nothing it writes is captured */
static inline bool
applying(void)
{
	const char *origin = origin_defined ? origin_setting : GetConfigOption("mmsync.origin", true, false);

	return origin != NULL && origin[0] != '\0';
}

/*
 * The applier's statements skip the capture triggers (issue 14). The triggers have no WHEN clause
 * any more: PostgreSQL prepares a trigger's WHEN clause once per statement (stringToNode and
 * ExecPrepareQual of mmsync._capturing(), about 7,000 instructions), which cost every writer's
 * one-row statement a fifth of what capture adds per row. What the clause saved the applier (an
 * AFTER trigger event per row it writes, the tuple fetched again and the trigger called only to
 * return at its first line) these hooks save instead, in the sessions that have mmsync.origin set:
 * once the executor has opened a statement's result relations, the capture trigger (the row
 * trigger named mmsync_capture) is marked disabled in each one's own copy of the table's triggers
 * (ResultRelInfo.ri_TrigDesc, made per statement by InitResultRelInfo), and the after-row flags are
 * set again from the triggers left, so an update or a delete does not even fetch the old row for
 * it when no other after-row trigger (a foreign key's) wants it. A COPY FROM, which makes its
 * result relation without the executor, gets the mark in the table's relcache entry for the
 * COPY's duration (put back after it, error or not, unless the entry was rebuilt meanwhile).
 * Nothing else changes: a relation opened later (a partition a row is routed to, another table a
 * trigger writes) still has its capture trigger, which returns at its first line as before, and
 * the capture functions keep their own test of mmsync.origin.
 */
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* marks the capture row trigger(s) of td disabled, their states before into saved (if given) */
static bool
disable_capture(TriggerDesc *td, char *saved)
{
	bool		found = false;
	int			i;

	if (td == NULL)
		return false;
	for (i = 0; i < td->numtriggers; i++)
	{
		Trigger    *tg = &td->triggers[i];

		if (tg->tgenabled != TRIGGER_DISABLED && TRIGGER_FOR_ROW(tg->tgtype) && TRIGGER_FOR_AFTER(tg->tgtype)
			&& strcmp(tg->tgname, CAPTURE_TRIGGER_NAME) == 0)
		{
			if (saved != NULL)
				saved[i] = tg->tgenabled;
			tg->tgenabled = TRIGGER_DISABLED;
			found = true;
		}
	}
	return found;
}

/* the after-row flags of td from its triggers not disabled (a disabled trigger never fires) */
static void
set_after_row_flags(TriggerDesc *td)
{
	bool		ins = false,
				upd = false,
				del = false;
	int			i;

	for (i = 0; i < td->numtriggers; i++)
	{
		int16		type = td->triggers[i].tgtype;

		if (td->triggers[i].tgenabled == TRIGGER_DISABLED)
			continue;
		ins |= TRIGGER_TYPE_MATCHES(type, TRIGGER_TYPE_ROW, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_INSERT);
		upd |= TRIGGER_TYPE_MATCHES(type, TRIGGER_TYPE_ROW, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_UPDATE);
		del |= TRIGGER_TYPE_MATCHES(type, TRIGGER_TYPE_ROW, TRIGGER_TYPE_AFTER, TRIGGER_TYPE_DELETE);
	}
	td->trig_insert_after_row = ins;
	td->trig_update_after_row = upd;
	td->trig_delete_after_row = del;
}

static void
capture_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	if (queryDesc->estate != NULL && queryDesc->estate->es_opened_result_relations != NIL && applying())
	{
		ListCell   *lc;

		foreach(lc, queryDesc->estate->es_opened_result_relations)
		{
			ResultRelInfo *rri = (ResultRelInfo *) lfirst(lc);

			if (disable_capture(rri->ri_TrigDesc, NULL))
				set_after_row_flags(rri->ri_TrigDesc);
		}
	}
}

static void
capture_ProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					   ProcessUtilityContext context, ParamListInfo params,
					   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	Relation	rel = NULL;
	TriggerDesc *marked = NULL;
	char	   *saved = NULL;

	if (IsA(stmt, CopyStmt) && ((CopyStmt *) stmt)->is_from && ((CopyStmt *) stmt)->relation != NULL && applying())
	{
		/*
		 * the table COPY will open, with the lock COPY FROM takes first too (DoCopy locks the table
		 * before it checks privileges): held to the transaction's end, it keeps the table the same
		 * until COPY's own lookup
		 */
		Oid			relid = RangeVarGetRelid(((CopyStmt *) stmt)->relation, RowExclusiveLock, true);

		if (OidIsValid(relid))
		{
			rel = RelationIdGetRelation(relid);
			if (rel != NULL && rel->trigdesc != NULL)
			{
				saved = palloc0(rel->trigdesc->numtriggers);
				if (disable_capture(rel->trigdesc, saved))
					marked = rel->trigdesc;
			}
		}
	}
	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		if (marked != NULL && rel->trigdesc == marked)
		{
			/* as it was (a relcache rebuild meanwhile would have replaced the marked descriptor) */
			int			i;

			for (i = 0; i < marked->numtriggers; i++)
				if (saved[i] != 0)
					marked->triggers[i].tgenabled = saved[i];
		}
		if (rel != NULL)
			RelationClose(rel);
	}
	PG_END_TRY();
}

void		_PG_init(void);

void
_PG_init(void)
{
	cache_cxt = AllocSetContextCreate(CacheMemoryContext, "mmsync capture queue cache", ALLOCSET_SMALL_SIZES);
	trig_cxt = AllocSetContextCreate(CacheMemoryContext, "mmsync capture trigger cache", ALLOCSET_SMALL_SIZES);
	CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = capture_ExecutorStart;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = capture_ProcessUtility;
	/* no MarkGUCPrefixReserved("mmsync"): other mmsync.* settings are placeholders */
	if (GetConfigOption("mmsync.origin", true, false) == NULL
		|| (GetConfigOptionFlags("mmsync.origin", true) & GUC_CUSTOM_PLACEHOLDER) != 0)
	{
		DefineCustomStringVariable("mmsync.origin",
								   "The node whose changes this session applies: they are not captured again.",
								   "Set by the mmsync applier (set_config('mmsync.origin', <node>, true)).",
								   &origin_setting, "", PGC_USERSET, GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);
		origin_defined = true;
	}
}

/* The queue tables, their indexes and the id sequence, in the schema of the trigger function. */
static void
load_queue(Oid fn_oid)
{
	Oid			nspid = get_func_namespace(fn_oid);
	char	   *nspname = get_namespace_name(nspid);
	MemoryContext old;
	int			i;

	if (nspname == NULL)
		elog(ERROR, "mmsync capture: the schema of function %u is gone", fn_oid);
	reset_caches();
	old = MemoryContextSwitchTo(cache_cxt);
	queue.nspid = nspid;
	queue.seqid = get_relname_relid("change_queue_id_seq", nspid);
	if (!OidIsValid(queue.seqid))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("mmsync capture: sequence %s.change_queue_id_seq does not exist", nspname),
						errhint("The C capture library (mmsync_capture) needs mmsync 0.2.0 or later: ALTER EXTENSION mmsync UPDATE, "
								"or use the PL/pgSQL trigger: SELECT mmsync.set_capture('plpgsql').")));
	for (i = 0; i < QUEUE_TABLES; i++)
	{
		char		name[NAMEDATALEN];
		QueueTable *q = &queue.tables[i];
		Relation	rel;
		TupleDesc	desc;
		List	   *indexes;
		ListCell   *lc;
		int			a,
					c;

		snprintf(name, sizeof(name), "changes_%d", i);
		q->relid = get_relname_relid(name, nspid);
		if (!OidIsValid(q->relid))
			ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
							errmsg("mmsync capture: queue table %s.%s does not exist", nspname, name),
							errhint("ALTER EXTENSION mmsync UPDATE, or use the PL/pgSQL trigger: SELECT mmsync.set_capture('plpgsql').")));
		rel = table_open(q->relid, AccessShareLock);
		if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relam != HEAP_TABLE_AM_OID)
			ereport(ERROR, (errmsg("mmsync capture: %s.%s is not a plain heap table", nspname, name),
							errhint("Use the PL/pgSQL trigger: SELECT mmsync.set_capture('plpgsql').")));
		desc = RelationGetDescr(rel);
		q->natts = desc->natts;
		/* triggers, rules or CHECK constraints on the queue table: only the executor runs them */
		q->by_sql_base = rel->rd_rel->relhastriggers || rel->rd_rel->relhasrules
			|| (desc->constr != NULL && desc->constr->num_check > 0);
		q->owner = rel->rd_rel->relowner;
		q->by_sql = q->by_sql_base;
		q->plan = NULL;
		q->insert_sql = psprintf("INSERT INTO %s.%s (id, xid, sync_id, relid, op, at, old, new) "
								 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
								 quote_identifier(nspname), quote_identifier(name));
		for (c = 0; c < Q_NCOLS; c++)
			q->attnum[c] = InvalidAttrNumber;
		for (a = 0; a < desc->natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, a);

			if (att->attisdropped)
				continue;
			for (c = 0; c < Q_NCOLS; c++)
				if (strcmp(NameStr(att->attname), q_names[c]) == 0)
					break;
			if (c == Q_NCOLS)
			{
				/* a column of a later version: INSERT by SQL fills it with its default, as PL/pgSQL does */
				q->by_sql = true;
				continue;
			}
			if (att->atttypid != q_types[c])
				ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
								errmsg("mmsync capture: column %s of %s.%s has type %s, the C trigger writes %s",
									   NameStr(att->attname), nspname, name, format_type_be(att->atttypid),
									   format_type_be(q_types[c])),
								errhint("Install the mmsync_capture library of this mmsync version (installer/install.sh), "
										"or use the PL/pgSQL trigger: SELECT mmsync.set_capture('plpgsql').")));
			q->attnum[c] = att->attnum;
		}
		for (c = 0; c < Q_NCOLS; c++)
			if (q->attnum[c] == InvalidAttrNumber)
				ereport(ERROR, (errmsg("mmsync capture: queue table %s.%s has no column %s", nspname, name, q_names[c]),
								errhint("ALTER EXTENSION mmsync UPDATE, or SELECT mmsync.set_capture('plpgsql').")));
		indexes = RelationGetIndexList(rel);
		q->nindexes = list_length(indexes);
		q->indexes = palloc(sizeof(Oid) * (q->nindexes + 1));
		q->indexinfo = palloc(sizeof(IndexInfo *) * (q->nindexes + 1));
		a = 0;
		foreach(lc, indexes)
		{
			Oid			ioid = lfirst_oid(lc);
			Relation	irel = index_open(ioid, AccessShareLock);
			IndexInfo  *ii = BuildIndexInfo(irel);

			/* an index the direct path cannot maintain: INSERT by SQL (the executor maintains it) */
			if (ii->ii_Expressions != NIL || ii->ii_Predicate != NIL || ii->ii_ExclusionOps != NULL
				|| (ii->ii_Unique && !irel->rd_index->indimmediate))
				q->by_sql = true;
			q->indexes[a] = ioid;
			q->indexinfo[a] = ii;
			a++;
			index_close(irel, AccessShareLock);
		}
		table_close(rel, AccessShareLock);
	}
	MemoryContextSwitchTo(old);
	queue.valid = true;
	/* an invalidation that came while loading leaves need_reset set: the caller loads again */
}

/* jsonb's key order: shorter first, then bytewise (lengthCompareJsonbStringValue) */
static ColInfo *sort_cols;

static int
key_order_cmp(const void *a, const void *b)
{
	ColInfo    *x = &sort_cols[*(const int *) a];
	ColInfo    *y = &sort_cols[*(const int *) b];

	if (x->namelen != y->namelen)
		return x->namelen > y->namelen ? 1 : -1;
	return memcmp(x->name, y->name, x->namelen);
}

static TrigCache *
load_trigger(Trigger *tg, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TrigCache  *t;
	Datum	   *json_names = NULL;
	int			njson = 0;
	MemoryContext old;
	int			a;

	if (tg->tgnargs < 1)
		ereport(ERROR, (errmsg("mmsync capture: trigger %s on %s has no sync id argument", tg->tgname,
							   RelationGetRelationName(rel))));
	if (tg->tgnargs > 1)
	{
		ArrayType  *arr = DatumGetArrayTypeP(OidInputFunctionCall(F_ARRAY_IN, tg->tgargs[1], TEXTOID, -1));

		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &json_names, NULL, &njson);
	}
	old = MemoryContextSwitchTo(trig_cxt);
	t = palloc0(sizeof(TrigCache));
	t->tgoid = tg->tgoid;
	t->relid = RelationGetRelid(rel);
	t->sync_id = pg_strtoint32(tg->tgargs[0]);
	t->natts = desc->natts;
	t->cols = palloc0(sizeof(ColInfo) * Max(desc->natts, 1));
	for (a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		ColInfo    *c = &t->cols[a];
		int			j;

		if (att->attisdropped)
			continue;
		c->name = pstrdup(NameStr(att->attname));
		c->namelen = strlen(c->name);
		c->typid = att->atttypid;
		c->typlen = att->attlen;
		c->typbyval = att->attbyval;
		switch (att->atttypid)
		{
			case BOOLOID:
				c->kind = COL_BOOL;
				break;
			case INT2OID:
			case INT4OID:
			case INT8OID:
				c->kind = COL_INT;
				break;
			case TEXTOID:
			case VARCHAROID:
			case BPCHAROID:
				c->kind = COL_TEXT;
				break;
			case DATEOID:
			case TIMESTAMPOID:
			case TIMESTAMPTZOID:
				c->kind = COL_DATETIME;
				break;
			default:
				c->kind = COL_OTHER;
				break;
		}
		for (j = 0; j < njson; j++)
			if (strcmp(TextDatumGetCString(json_names[j]), c->name) == 0)
				c->kind = COL_JSON_TEXT;
		if (c->kind == COL_OTHER)
		{
			FuncExpr   *fx;

			fmgr_info_cxt(F_TO_JSONB, &c->tojsonb, trig_cxt);
			/* to_jsonb(anyelement) learns its argument's type from the call expression */
			fx = makeFuncExpr(F_TO_JSONB, JSONBOID,
							  list_make1(makeNullConst(att->atttypid, att->atttypmod, att->attcollation)),
							  InvalidOid, att->attcollation, COERCE_EXPLICIT_CALL);
			c->tojsonb.fn_expr = (Node *) fx;
		}
	}
	t->order = palloc(sizeof(int) * Max(desc->natts, 1));
	t->nkeys = 0;
	for (a = 0; a < desc->natts; a++)
		if (t->cols[a].name != NULL)
			t->order[t->nkeys++] = a;
	sort_cols = t->cols;
	qsort(t->order, t->nkeys, sizeof(int), key_order_cmp);
	MemoryContextSwitchTo(old);
	t->next = trig_caches;
	trig_caches = t;
	return t;
}

static inline void
set_string(JsonbValue *v, char *s, int len)
{
	if (len > JENTRY_OFFLENMASK)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("string too long to represent as jsonb string"),
						errdetail("Due to an implementation restriction, jsonb strings cannot exceed %d bytes.",
								  JENTRY_OFFLENMASK)));
	v->type = jbvString;
	v->val.string.val = s;
	v->val.string.len = len;
}

/*
 * int64_to_numeric(v) without its general machinery (a work buffer, then a copy): the same bytes,
 * a numeric in the short format (what make_result writes for an integer: dscale 0, weight 0..4,
 * base-10000 digits without leading or trailing zeros; 0 has no digits). Layout and bits as
 * numeric.c's NumericShort. Checked equal, byte for byte, to int64_to_numeric's for 700,000
 * values (every one in -200,000..200,000, powers of ten and their neighbours, the int64 limits,
 * random ones); CaptureImplIT compares the queued images with PL/pgSQL's.
 */
#define CAP_NUMERIC_SHORT 0x8000
#define CAP_NUMERIC_SHORT_SIGN_MASK 0x2000
#define CAP_NUMERIC_SHORT_WEIGHT_MASK 0x003F

static Numeric
int64_numeric(int64 v)
{
	uint64		u = v < 0 ? (uint64) 0 - (uint64) v : (uint64) v;
	int16		digits[5];
	int			n = 0,
				first,
				weight,
				len,
				i;
	uint16		header;
	char	   *res;

	while (u != 0)
	{
		digits[4 - n] = (int16) (u % 10000);
		u /= 10000;
		n++;
	}
	/* digits[5 - n .. 4], most significant first; weight: base-10000 digits before the point - 1 */
	first = 5 - n;
	weight = n - 1;
	while (n > 0 && digits[first + n - 1] == 0)
		n--;
	if (n == 0)
	{
		weight = 0;
		header = CAP_NUMERIC_SHORT;
	}
	else
		header = CAP_NUMERIC_SHORT | (v < 0 ? CAP_NUMERIC_SHORT_SIGN_MASK : 0) | (weight & CAP_NUMERIC_SHORT_WEIGHT_MASK);
	len = VARHDRSZ + sizeof(uint16) + n * sizeof(int16);
	res = palloc(len);
	SET_VARSIZE(res, len);
	memcpy(res + VARHDRSZ, &header, sizeof(uint16));
	for (i = 0; i < n; i++)
		memcpy(res + VARHDRSZ + sizeof(uint16) + i * sizeof(int16), &digits[first + i], sizeof(int16));
	return (Numeric) res;
}

/*
 * One column's value as to_jsonb encodes it. Returns false, with *other set, only for a
 * COL_OTHER value whose jsonb is not a scalar (an array, an object): the caller then builds the
 * image with pushJsonbValue, which can embed it.
 */
static bool
column_value(ColInfo *c, Datum d, bool isnull, JsonbValue *v, Jsonb **other)
{
	if (isnull)
	{
		v->type = jbvNull;
		return true;
	}
	switch (c->kind)
	{
		case COL_BOOL:
			v->type = jbvBool;
			v->val.boolean = DatumGetBool(d);
			return true;
		case COL_INT:
			v->type = jbvNumeric;
			v->val.numeric = int64_numeric(c->typid == INT8OID ? DatumGetInt64(d)
											  : c->typid == INT4OID ? (int64) DatumGetInt32(d)
											  : (int64) DatumGetInt16(d));
			return true;
		case COL_TEXT:
			{
				text	   *t = DatumGetTextPP(d);

				set_string(v, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				return true;
			}
		case COL_DATETIME:
			{
				char	   *str = JsonEncodeDateTime(NULL, d, c->typid, NULL);

				set_string(v, str, strlen(str));
				return true;
			}
		case COL_JSON_TEXT:
			{
				/* the exact text minus the JSON white space around it; the JSON null as null */
				text	   *t = DatumGetTextPP(d);
				char	   *p = VARDATA_ANY(t);
				int			len = VARSIZE_ANY_EXHDR(t);

				while (len > 0 && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
					p++, len--;
				while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\n' || p[len - 1] == '\r'))
					len--;
				if (len == 4 && memcmp(p, "null", 4) == 0)
					v->type = jbvNull;
				else
					set_string(v, p, len);
				return true;
			}
		case COL_OTHER:
			{
				Jsonb	   *j = DatumGetJsonbP(FunctionCall1(&c->tojsonb, d));

				*other = j;
				return JB_ROOT_IS_SCALAR(j) && JsonbExtractScalar(&j->root, v);
			}
	}
	elog(ERROR, "mmsync capture: unknown column kind %d", (int) c->kind);
	return false;
}

/*
 * JsonbValueToJsonb of an object whose values are all scalars, without its general machinery
 * (a growing buffer, a recursive walk): the same bytes, as jsonb_util.c's convertToJsonb,
 * convertJsonbObject and convertJsonbScalar write them (PostgreSQL 15): the object's header, a
 * JEntry per key then per value (every JB_OFFSET_STRIDE'th one an end offset, the others
 * lengths), the keys' text, then the values' (a numeric aligned to 4 bytes, the padding counted
 * in its length). The pairs are in jsonb's key order, the keys distinct. Built with
 * -DMMSYNC_CHECK_JSONB it compares every image with JsonbValueToJsonb's (CaptureImplIT was run so).
 */
static Jsonb *
scalar_object_jsonb(JsonbPair *pairs, int n)
{
	Size		size = VARHDRSZ + sizeof(uint32) + sizeof(JEntry) * 2 * n;
	char	   *buf;
	JEntry	   *je;
	Size		pos,
				base;
	uint32		header = (uint32) n | JB_FOBJECT;
	uint32		totallen = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		size += pairs[i].key.val.string.len;
		if (pairs[i].value.type == jbvString)
			size += pairs[i].value.val.string.len;
		else if (pairs[i].value.type == jbvNumeric)
			size += 3 + VARSIZE_ANY(pairs[i].value.val.numeric);
	}
	buf = palloc(size);
	memcpy(buf + VARHDRSZ, &header, sizeof(uint32));
	je = (JEntry *) (buf + VARHDRSZ + sizeof(uint32));
	base = pos = VARHDRSZ + sizeof(uint32) + sizeof(JEntry) * 2 * n;
	for (i = 0; i < 2 * n; i++)
	{
		JsonbValue *v = i < n ? &pairs[i].key : &pairs[i - n].value;
		uint32		len;
		JEntry		meta;

		switch (v->type)
		{
			case jbvString:
				len = v->val.string.len;
				memcpy(buf + pos, v->val.string.val, len);
				meta = JENTRY_ISSTRING;
				break;
			case jbvNumeric:
				{
					uint32		numlen = VARSIZE_ANY(v->val.numeric);
					int			pad = INTALIGN(pos) - pos;

					memset(buf + pos, 0, pad);
					memcpy(buf + pos + pad, v->val.numeric, numlen);
					len = pad + numlen;
					meta = JENTRY_ISNUMERIC;
					break;
				}
			case jbvBool:
				len = 0;
				meta = v->val.boolean ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE;
				break;
			case jbvNull:
				len = 0;
				meta = JENTRY_ISNULL;
				break;
			default:
				elog(ERROR, "mmsync capture: unexpected jsonb value type %d", (int) v->type);
		}
		pos += len;
		totallen += len;
		if (totallen > JENTRY_OFFLENMASK)
			ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							errmsg("total size of jsonb object elements exceeds the maximum of %u bytes",
								   JENTRY_OFFLENMASK)));
		je[i] = (i % JB_OFFSET_STRIDE) == 0 ? meta | totallen | JENTRY_HAS_OFF : meta | len;
	}
	if (pos - base > JENTRY_OFFLENMASK)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("total size of jsonb array elements exceeds the maximum of %u bytes",
							   JENTRY_OFFLENMASK)));
	SET_VARSIZE(buf, pos);
	return (Jsonb *) buf;
}

/*
 * to_jsonb(row), with the json columns of COL_JSON_TEXT kept as text (as _keep_json_text does),
 * from the row's deformed values. With cmp (an update's old image): only the columns whose value
 * differs from cmp's (the new row's), since new || old is the whole old row (the view
 * mmsync.changes shows that); a column whose datum is the same (a toasted value the update did not
 * touch keeps its pointer) is neither detoasted nor encoded.
 * The object is built with its keys already in jsonb's order (sorted once per trigger), so
 * JsonbValueToJsonb writes it at once; an array or object value needs pushJsonbValue instead.
 */
static Jsonb *
row_to_jsonb(TrigCache *t, Datum *values, bool *nulls, Datum *cmp_values, bool *cmp_nulls)
{
	JsonbPair  *pairs = palloc(sizeof(JsonbPair) * Max(t->nkeys, 1));
	JsonbParseState *st = NULL;
	int			k,
				n = 0;

	for (k = 0; k < t->nkeys; k++)
	{
		int			a = t->order[k];
		ColInfo    *c = &t->cols[a];
		Jsonb	   *other = NULL;
		JsonbPair  *p = &pairs[n];

		if (cmp_values != NULL && nulls[a] == cmp_nulls[a]
			&& (nulls[a] || datumIsEqual(values[a], cmp_values[a], c->typbyval, c->typlen)))
			continue;
		p->key.type = jbvString;
		p->key.val.string.val = c->name;
		p->key.val.string.len = c->namelen;
		p->order = n;
		if (!column_value(c, values[a], nulls[a], &p->value, &other))
		{
			/* a container value: hand it over as binary, pushJsonbValue unpacks it */
			p->value.type = jbvBinary;
			p->value.val.binary.data = &other->root;
			p->value.val.binary.len = VARSIZE(other) - VARHDRSZ;
			st = (JsonbParseState *) 1;		/* marks: build by pushing */
		}
		n++;
	}
	if (st == NULL)
	{
		Jsonb	   *j = scalar_object_jsonb(pairs, n);

#ifdef MMSYNC_CHECK_JSONB
		JsonbValue	obj;
		Jsonb	   *ref;

		obj.type = jbvObject;
		obj.val.object.nPairs = n;
		obj.val.object.pairs = pairs;
		ref = JsonbValueToJsonb(&obj);
		if (VARSIZE(ref) != VARSIZE(j) || memcmp(ref, j, VARSIZE(ref)) != 0)
			elog(ERROR, "mmsync capture: scalar_object_jsonb differs from JsonbValueToJsonb (%u, %u bytes)",
				 VARSIZE(j), VARSIZE(ref));
#endif
		return j;
	}
	st = NULL;
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	for (k = 0; k < n; k++)
	{
		pushJsonbValue(&st, WJB_KEY, &pairs[k].key);
		pushJsonbValue(&st, WJB_VALUE, &pairs[k].value);
	}
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/*
 * The queue row by SQL, as the extension's owner (the queue table's), for a queue table the
 * direct path cannot write: a column it does not know, an index of expressions, a trigger.
 */
static void
queue_insert_sql(QueueTable *q, Datum *cols, bool *nulls)
{
	static Oid	argtypes[Q_NCOLS] = {INT8OID, XID8OID, INT4OID, OIDOID, CHAROID, TIMESTAMPTZOID, JSONBOID, JSONBOID};
	char		spinulls[Q_NCOLS];
	Oid			save_userid;
	int			save_sec;
	int			i,
				rc;

	for (i = 0; i < Q_NCOLS; i++)
		spinulls[i] = nulls[i] ? 'n' : ' ';
	GetUserIdAndSecContext(&save_userid, &save_sec);
	/* an error on the way is cleaned up by the (sub)transaction's abort, as for SECURITY DEFINER */
	SetUserIdAndSecContext(q->owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "mmsync capture: SPI_connect failed");
	if (q->plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(q->insert_sql, Q_NCOLS, argtypes);

		if (plan == NULL)
			elog(ERROR, "mmsync capture: SPI_prepare of \"%s\" failed: %s", q->insert_sql,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "mmsync capture: SPI_keepplan failed");
		q->plan = plan;
	}
	rc = SPI_execute_plan(q->plan, cols, spinulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "mmsync capture: \"%s\" returned %s", q->insert_sql, SPI_result_code_string(rc));
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec);
}

static void
queue_insert(Relation rel, QueueTable *q, Datum *cols, bool *nulls, bool locked)
{
	Datum	   *values = palloc(sizeof(Datum) * q->natts);
	bool	   *isnull = palloc(sizeof(bool) * q->natts);
	HeapTuple	tup;
	int			i;

	for (i = 0; i < q->natts; i++)
	{
		values[i] = (Datum) 0;
		isnull[i] = true;		/* dropped columns */
	}
	for (i = 0; i < Q_NCOLS; i++)
	{
		values[q->attnum[i] - 1] = cols[i];
		isnull[q->attnum[i] - 1] = nulls[i];
	}
	tup = heap_form_tuple(RelationGetDescr(rel), values, isnull);
	simple_heap_insert(rel, tup);
	for (i = 0; i < q->nindexes; i++)
	{
		IndexInfo  *ii = q->indexinfo[i];
		Relation	irel;
		Datum		ivalues[INDEX_MAX_KEYS];
		bool		inulls[INDEX_MAX_KEYS];
		int			k;

		if (!ii->ii_ReadyForInserts)
			continue;
		/* the lock is taken once per (sub)transaction, as the table's (it is held to its end) */
		irel = index_open(q->indexes[i], locked ? NoLock : RowExclusiveLock);
		for (k = 0; k < ii->ii_NumIndexAttrs; k++)
		{
			AttrNumber	an = ii->ii_IndexAttrNumbers[k];

			ivalues[k] = values[an - 1];
			inulls[k] = isnull[an - 1];
		}
		index_insert(irel, ivalues, inulls, &tup->t_self, rel,
					 ii->ii_Unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO, false, ii);
		index_close(irel, NoLock);
	}
	table_close(rel, NoLock);
}

Datum
mmsync_capture(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *origin;
	TrigCache  *t;
	TupleDesc	desc;
	Datum		cols[Q_NCOLS];
	bool		nulls[Q_NCOLS];
	int64		id;
	int32		sync_id;
	char		op;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("mmsync.capture() must be called as a trigger")));
	if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("mmsync.capture() must be an AFTER ... FOR EACH ROW trigger")));

	/* the applier's own writes (mmsync.origin set) are not captured again */
	origin = origin_defined ? origin_setting : GetConfigOption("mmsync.origin", true, false);
	if (origin != NULL && origin[0] != '\0')
		return PointerGetDatum(NULL);

	while (need_reset || !queue.valid)
		load_queue(fcinfo->flinfo->fn_oid);
	if (need_trig_reset)
		reset_trig_caches();
	for (t = trig_caches; t != NULL; t = t->next)
		if (t->tgoid == td->tg_trigger->tgoid)
			break;
	if (t == NULL)
		t = load_trigger(td->tg_trigger, td->tg_relation);
	desc = RelationGetDescr(td->tg_relation);
	if (desc->natts != t->natts)
		elog(ERROR, "mmsync capture: table %s has %d columns, its cached trigger %d",
			 RelationGetRelationName(td->tg_relation), desc->natts, t->natts);

	sync_id = t->sync_id;		/* t may be freed by a reload below */
	memset(nulls, 0, sizeof(nulls));
	/* the transaction id before the queue id (the sender's RangeFloor relies on that order) */
	cols[Q_XID] = FullTransactionIdGetDatum(GetTopFullTransactionId());
	id = nextval_internal(queue.seqid, false);
	cols[Q_ID] = Int64GetDatum(id);
	cols[Q_SYNC_ID] = Int32GetDatum(sync_id);
	cols[Q_RELID] = ObjectIdGetDatum(RelationGetRelid(td->tg_relation));
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		op = 'I';
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		op = 'U';
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		op = 'D';
	else
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("mmsync.capture() fires on INSERT, UPDATE or DELETE only")));
	cols[Q_OP] = CharGetDatum(op);
	cols[Q_AT] = TimestampTzGetDatum(GetCurrentTimestamp());
	{
		/* not heap_getattr: in later 15.x it calls a function older 15.x servers lack */
		Datum	   *values = palloc(sizeof(Datum) * t->natts * 2);
		bool	   *isnull = palloc(sizeof(bool) * t->natts * 2);

		heap_deform_tuple(td->tg_trigtuple, desc, values, isnull);
		if (op == 'U')
		{
			/* the new row, and of the old one what the update changed (new || old is all of it) */
			heap_deform_tuple(td->tg_newtuple, desc, values + t->natts, isnull + t->natts);
			cols[Q_NEW] = JsonbPGetDatum(row_to_jsonb(t, values + t->natts, isnull + t->natts, NULL, NULL));
			cols[Q_OLD] = JsonbPGetDatum(row_to_jsonb(t, values, isnull, values + t->natts, isnull + t->natts));
		}
		else if (op == 'I')
		{
			nulls[Q_OLD] = true;
			cols[Q_NEW] = JsonbPGetDatum(row_to_jsonb(t, values, isnull, NULL, NULL));
		}
		else
		{
			cols[Q_OLD] = JsonbPGetDatum(row_to_jsonb(t, values, isnull, NULL, NULL));
			nulls[Q_NEW] = true;
		}
	}
	{
		int			slot = (id >> 24) % QUEUE_TABLES;
		bool		locked;
		Relation	rel;

		if (lock_lxid != MyProc->lxid || lock_subxid != GetCurrentSubTransactionId())
		{
			lock_lxid = MyProc->lxid;
			lock_subxid = GetCurrentSubTransactionId();
			locked_slots = 0;
		}
		locked = (locked_slots & (1 << slot)) != 0 && !need_reset && queue.valid;
		rel = table_open(queue.tables[slot].relid, locked ? NoLock : RowExclusiveLock);

		/* the lock may have brought news of the table (an index added): reload before writing */
		while (need_reset || !queue.valid)
		{
			Oid			relid = queue.tables[slot].relid;

			load_queue(fcinfo->flinfo->fn_oid);
			if (queue.tables[slot].relid != relid)
			{
				table_close(rel, NoLock);
				rel = table_open(queue.tables[slot].relid, RowExclusiveLock);
			}
		}
		if (queue.tables[slot].by_sql)
		{
			table_close(rel, NoLock);
			queue_insert_sql(&queue.tables[slot], cols, nulls);
		}
		else
			queue_insert(rel, &queue.tables[slot], cols, nulls, locked);
		/* the table's and its indexes' locks are held to the (sub)transaction's end */
		locked_slots |= 1 << slot;
	}

	/* wake an idle sender (see 10_capture.sql); once per sync and (sub)transaction */
	if (wake_lxid != MyProc->lxid || wake_subxid != GetCurrentSubTransactionId() || wake_sync_id != sync_id)
	{
		if (!DatumGetBool(DirectFunctionCall2(pg_try_advisory_xact_lock_shared_int4,
											  Int32GetDatum(WAKE_LOCK_KEY), Int32GetDatum(sync_id))))
			DirectFunctionCall2(pg_notify, CStringGetTextDatum("mmsync_changes"), CStringGetTextDatum(""));
		wake_lxid = MyProc->lxid;
		wake_subxid = GetCurrentSubTransactionId();
		wake_sync_id = sync_id;
	}
	return PointerGetDatum(NULL);
}

/*
 * mmsync.capture_keyless(), the trigger of a table synced insert-only (issue 14): an insert is
 * queued exactly as mmsync.capture() queues it (the PL/pgSQL capture_keyless queues the same row:
 * old NULL, new to_jsonb(NEW)); an update or delete, which cannot be replicated, is reported by
 * the PL/pgSQL function @extschema@._capture_keyless_plpgsql() (set aside with a WARNING), called
 * here with the same trigger data. The PL/pgSQL path cost a pgbench -N transaction whose
 * history row is synced insert-only a fifth of its statement time (two nested PL/pgSQL calls,
 * each with a SET clause, and an SQL INSERT).
 */
Datum
mmsync_capture_keyless(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	char	   *nspname;
	Oid			fallback;
	FmgrInfo	finfo;
	LOCAL_FCINFO(fc, 0);

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("mmsync.capture_keyless() must be called as a trigger")));
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		return mmsync_capture(fcinfo);
	nspname = get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid));
	if (nspname == NULL)
		elog(ERROR, "mmsync capture: the schema of function %u is gone", fcinfo->flinfo->fn_oid);
	fallback = LookupFuncName(list_make2(makeString(nspname), makeString("_capture_keyless_plpgsql")), 0, NULL, true);
	if (!OidIsValid(fallback))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FUNCTION),
						errmsg("mmsync capture: function %s._capture_keyless_plpgsql() does not exist", nspname),
						errhint("SELECT mmsync.set_capture('auto') makes it (or ALTER EXTENSION mmsync UPDATE).")));
	fmgr_info(fallback, &finfo);
	InitFunctionCallInfoData(*fc, &finfo, 0, InvalidOid, (Node *) td, NULL);
	/* an AFTER row trigger: what it returns is ignored */
	(void) FunctionCallInvoke(fc);
	return PointerGetDatum(NULL);
}

/* which library is loaded (mmsync.capture_impl() shows it) */
Datum
mmsync_capture_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(CAPTURE_VERSION));
}

/*
 * mmsync._capturing(), the WHEN clause of the capture triggers (issue 15): false in the applier's
 * transactions (mmsync.origin set), so the rows it writes queue no trigger event. Here it costs a
 * function call and a pointer's deref per row; the SQL version (current_setting by name, what
 * the PL/pgSQL capture runs with) about ten times that.
 */
Datum
mmsync_capturing(PG_FUNCTION_ARGS)
{
	const char *origin = origin_defined ? origin_setting : GetConfigOption("mmsync.origin", true, false);

	PG_RETURN_BOOL(origin == NULL || origin[0] == '\0');
}
