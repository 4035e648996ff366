/*
 * Issue 15 experiment (bench/waitprobe/README.md): a server-side wait for a NOTIFY.
 * waitprobe_await_notify(timeout_ms) returns true as soon as a notification for this (listening)
 * backend is pending, false after the timeout. A committing NOTIFY signals every listening backend
 * of the database (SIGUSR1): the handler sets notifyInterruptPending and the latch. Pending
 * notifications are delivered to the client only when the backend is idle, so the caller's next
 * statements (in the same request) run at once and the notification follows after the request.
 */
#include "postgres.h"

#include "commands/async.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(waitprobe_await_notify);

Datum
waitprobe_await_notify(PG_FUNCTION_ARGS)
{
	int32		ms = PG_GETARG_INT32(0);
	TimestampTz end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);

	for (;;)
	{
		long		left;

		CHECK_FOR_INTERRUPTS();
		if (notifyInterruptPending)
			PG_RETURN_BOOL(true);
		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), end);
		if (left <= 0)
			PG_RETURN_BOOL(false);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, left, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
