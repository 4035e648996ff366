package io.mmsync.engine.conn;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A listening connection ({@link Connector#openListening}, issue 15) gets every NOTIFY, in order,
 * whether it waits for them or they come with a query's reply, and runs queries with large
 * replies as any connection: its sockets differ only in a read under pgJDBC's 1 ms peek.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class QuickPeekIT {
    static final String DB = "app";
    private static PgCluster pg;

    @BeforeAll
    static void start() {
        pg = PgCluster.start("quickpeek");
        pg.createDatabase(DB);
    }

    @AfterAll
    static void stop() {
        if (pg != null) {
            pg.close();
        }
    }

    @Test
    void notificationsArriveWholeAndInOrderAndQueriesWork() throws Exception {
        Connector node = new Connector("blue", pg.conninfo(DB));
        try (Connection listening = node.openListening("test listener"); Connection writer = node.open("test writer");
             Statement ls = listening.createStatement(); Statement ws = writer.createStatement()) {
            ls.execute("LISTEN ch");
            PGConnection pgl = listening.unwrap(PGConnection.class);
            assertEquals(0, pgl.getNotifications(50).length);

            // one per transaction, one at a time, each waited for
            for (int i = 1; i <= 20; i++) {
                ws.execute("NOTIFY ch, '" + i + "'");
                assertEquals(List.of(String.valueOf(i)), payloads(pgl, 1));
            }
            // a burst of many in one transaction, and many transactions, waited for together
            ws.execute("SELECT pg_notify('ch', g::text) FROM generate_series(1, 300) g");
            for (int i = 301; i <= 400; i++) {
                ws.execute("NOTIFY ch, '" + i + "'");
            }
            List<String> want = new ArrayList<>();
            for (int i = 1; i <= 400; i++) {
                want.add(String.valueOf(i));
            }
            assertEquals(want, payloads(pgl, 400));

            // a large reply on the listening connection, and a notification read with it
            ws.execute("NOTIFY ch, 'with the reply'");
            try (ResultSet rs = ls.executeQuery("SELECT g, repeat('x', 200) FROM generate_series(1, 50000) g")) {
                long sum = 0;
                int rows = 0;
                while (rs.next()) {
                    sum += rs.getLong(1);
                    rows++;
                    assertEquals(200, rs.getString(2).length());
                }
                assertEquals(50_000, rows);
                assertEquals(50_000L * 50_001 / 2, sum);
            }
            assertEquals(List.of("with the reply"), payloads(pgl, 1));
        }
    }

    /** Waits (2 ms at a time and more, as Wakeup) until {@code n} notifications came; their payloads. */
    private static List<String> payloads(PGConnection c, int n) throws Exception {
        List<String> got = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (got.size() < n && System.nanoTime() < deadline) {
            for (PGNotification x : c.getNotifications(got.isEmpty() ? 1000 : 2)) {
                got.add(x.getParameter());
            }
        }
        return got;
    }
}
