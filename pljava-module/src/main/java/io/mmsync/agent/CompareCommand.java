package io.mmsync.agent;

import io.mmsync.engine.compare.Comparer;
import io.mmsync.engine.compare.Diff;
import io.mmsync.engine.compare.Repair;
import io.mmsync.engine.compare.SyncTarget;
import io.mmsync.engine.conn.Connector;

import java.io.PrintStream;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code mmsync repair --db '<conninfo>' [--prefer NODE] SYNC [TABLE]} compares the same way, then
 * makes the differing rows equal to the preferred node's (or the one the sync's conflict strategy
 * prefers) through the normal apply path (the winner queues them); exit code 0 when all are
 * repaired, 1 when more keys differ than one run lists or some kept changing, 2 on error.
 * <p>
 * {@code mmsync compare --db '<conninfo>' [--wait SECONDS] SYNC [TABLE]}: compares the sync's tables
 * on this node and its peer. Exit code 0: identical, 1: different, 2: error (for cron and
 * monitoring checks). Progress on stderr, differences on stdout; the outcome is recorded in this
 * node's mmsync.compare_runs / compare_diffs, which mmsync.compare(sync) shows in psql.
 */
final class CompareCommand {
    static final int IDENTICAL = 0;
    static final int DIFFERENT = 1;
    static final int ERROR = 2;
    /** Differences printed at most; all are in mmsync.compare(). */
    static final int PRINTED = 100;

    private CompareCommand() {
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        boolean repair = args[0].equals("repair");
        String cmd = "mmsync " + args[0];
        String prefer = null;
        String db = System.getenv("MMSYNC_DB");
        Duration wait = Duration.ofSeconds(120);
        List<String> positional = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            String a = args[i];
            String v = i + 1 < args.length ? args[i + 1] : null;
            if (a.equals("--db") && v != null) {
                db = v;
                i++;
            } else if (a.equals("--wait") && v != null) {
                try {
                    wait = Duration.ofSeconds(Long.parseLong(v));
                } catch (NumberFormatException e) {
                    err.println(cmd + ": --wait takes seconds, not \"" + v + "\"");
                    return ERROR;
                }
                i++;
            } else if (repair && a.equals("--prefer") && v != null) {
                prefer = v;
                i++;
            } else if (a.startsWith("--")) {
                err.println(cmd + ": unknown or incomplete option \"" + a + "\"");
                return ERROR;
            } else {
                positional.add(a);
            }
        }
        if (db == null || positional.isEmpty() || positional.size() > 2) {
            err.println("usage: " + cmd + " --db '<conninfo of this node>' [--wait SECONDS]" + (repair ? " [--prefer NODE]" : "")
                    + " SYNC [TABLE]");
            return ERROR;
        }
        String sync = positional.get(0);
        String table = positional.size() > 1 ? positional.get(1) : null;
        long start = System.nanoTime();
        try {
            Connector local = new Connector("local", db);
            SyncTarget target;
            try (Connection c = local.open("compare")) {
                target = SyncTarget.load(c, sync, table);
            }
            if (repair) {
                Repair.Outcome r = new Repair(target, local, wait, prefer, line -> err.println(cmd + ": " + line)).run();
                out.printf("repaired: sync %s, %,d rows made equal to %s's (%.1f s)%s%s%n", sync, r.fixed, r.winner,
                        (System.nanoTime() - start) / 1e9, r.left > 0 ? String.format("; %,d keys still differ (changed again "
                        + "on both nodes while repaired; see mmsync.compare('%s'))", r.left, sync) : "",
                        r.compared.more > 0 ? String.format("; %,d more keys differ: run repair again", r.compared.more) : "");
                return r.compared.more > 0 || r.left > 0 ? DIFFERENT : IDENTICAL;
            }
            Comparer.Outcome o = new Comparer(target, local, wait, line -> err.println(cmd + ": " + line)).run();
            double secs = (System.nanoTime() - start) / 1e9;
            if (o.identical()) {
                out.printf("identical: sync %s, %d tables, %,d rows on %s and %s (%.1f s)%n", sync, target.tables().size(),
                        o.rowsHere, target.here(), target.peer(), secs);
                if (o.inFlight > 0) {
                    out.printf("(%d keys differed while their changes were in flight, and agree now)%n", o.inFlight);
                }
                return IDENTICAL;
            }
            out.printf("different: sync %s, %,d keys differ between %s and %s (%.1f s)%n", sync, o.diffs.size() + o.more,
                    target.here(), target.peer(), secs);
            int n = 0;
            for (Diff d : o.diffs) {
                if (n++ == PRINTED) {
                    out.printf("... all of them: SELECT * FROM mmsync.compare('%s') on %s%n", sync, target.here());
                    break;
                }
                out.printf("%s %s: %s %s | %s %s%n", d.table(), d.key(), target.here(), orMissing(d.here()), target.peer(),
                        orMissing(d.peer()));
            }
            if (o.more > 0) {
                out.printf("and %,d more keys not listed (a compare lists at most %,d per table)%n", o.more, 10_000);
            }
            if (o.unsettled > 0) {
                out.printf("(%d of them kept changing while compared: run again when writes are quieter)%n", o.unsettled);
            }
            return DIFFERENT;
        } catch (SQLException | RuntimeException e) {
            err.println(cmd + ": " + firstLine(e.getMessage()));
            return ERROR;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            err.println(cmd + ": interrupted");
            return ERROR;
        }
    }

    private static String orMissing(String row) {
        return row == null ? "(no row)" : row;
    }

    private static String firstLine(String s) {
        return s == null ? "error" : s.replace("\n  Hint:", " Hint:").replace("\n", " ");
    }
}
