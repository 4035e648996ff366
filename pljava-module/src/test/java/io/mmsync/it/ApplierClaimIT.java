package io.mmsync.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * One session at a time applies an origin's changes at a peer (the 10-minute soak found pages
 * applied twice under agent kills and network cuts: green's count of blue's changes exceeded
 * blue's by 22, the rows alike). A link reading its position while an earlier session of its own
 * could still commit a page would apply that page again. So a link that connects ends the earlier
 * sessions of its applier's name and waits until they are gone, then claims the applier's lock
 * before it reads the position; while another session holds that lock the link waits and says so.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ApplierClaimIT {
    private static final String LOCK = "SELECT pg_advisory_lock(hashtext('mmsync applier'), hashtext('app/blue'))";

    /** An abandoned applier session of the same name, in a transaction: ended and waited for; its work rolled back. */
    @Test
    void anAbandonedApplierSessionIsEndedBeforeThePositionIsRead() throws Exception {
        try (Pair pair = Pair.start("CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL);")) {
            pair.addSync("");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            Pair.exec(pair.blue, "INSERT INTO t SELECT g, 'a' FROM generate_series(1, 100) g");
            pair.awaitSynced();
            pair.stopAgents();
            try (Connection stale = pair.green.connect(Pair.DB); Statement st = stale.createStatement()) {
                st.execute("SET application_name = 'mmsync applier app from blue'");
                st.execute(LOCK);
                stale.setAutoCommit(false);
                st.execute("INSERT INTO t VALUES (1000, 'from the abandoned session')");
                Pair.exec(pair.blue, "INSERT INTO t SELECT g, 'b' FROM generate_series(101, 200) g");
                pair.startAgents();
                pair.awaitSynced();
                assertFalse(stale.isValid(5), "the abandoned session was ended");
            }
            assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t WHERE id = 1000"),
                    "its open transaction rolled back");
            assertEquals(200, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t"));
            assertEquals(200, Pair.applied(pair.green, "blue"), "each of blue's changes applied once");
            assertEquals(Pair.fingerprint(pair.blue, "t"), Pair.fingerprint(pair.green, "t"));
        }
    }

    /** A session of another name holding the applier's lock: the link waits, names it, and goes on once it ends. */
    @Test
    void theLinkWaitsWhileAnotherSessionHoldsTheApplierLock() throws Exception {
        try (Pair pair = Pair.start("CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL);")) {
            pair.addSync("");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            pair.stopAgents();
            try (Connection holder = pair.green.connect(Pair.DB); Statement st = holder.createStatement()) {
                st.execute("SET application_name = 'someone else'");
                st.execute(LOCK);
                Pair.exec(pair.blue, "INSERT INTO t SELECT g, 'a' FROM generate_series(1, 50) g");
                pair.startAgents();
                Waits.until(Duration.ofSeconds(60), "blue's link says who holds the applier's lock on green", () -> {
                    String e = Pair.lastError(pair.blue, "green");
                    return e != null && e.contains("(someone else) on node green is still applying changes from blue");
                });
                assertEquals(0, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t"), "nothing applied meanwhile");
            } catch (SQLException e) {
                throw new AssertionError(e);
            }
            pair.awaitSynced();
            assertEquals(50, pair.green.queryLong(Pair.DB, "SELECT count(*) FROM t"));
            assertEquals(50, Pair.applied(pair.green, "blue"));
            assertEquals(Pair.fingerprint(pair.blue, "t"), Pair.fingerprint(pair.green, "t"));
        }
    }
}
