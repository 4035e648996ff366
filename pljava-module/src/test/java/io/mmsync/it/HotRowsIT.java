package io.mmsync.it;

import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.sql.Connection;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A backlog of small transactions that each touch several tables linked by foreign keys, with
 * hot rows (one branch, one label) updated in nearly every transaction, parents inserted and
 * deleted around their children, and two rows swapping a unique name: the peer applies it in few
 * statements (io.mmsync.engine.RunPlanner) and still ends exactly where a change-by-change apply
 * would.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class HotRowsIT {
    static final String SCHEMA = String.join("\n",
            "CREATE TABLE branches (id int PRIMARY KEY, total bigint NOT NULL DEFAULT 0, note text);",
            "CREATE TABLE accounts (id int PRIMARY KEY, branch int NOT NULL REFERENCES branches, balance bigint NOT NULL DEFAULT 0);",
            "CREATE TABLE ledger (id bigint PRIMARY KEY, account int NOT NULL REFERENCES accounts,",
            "  branch int NOT NULL REFERENCES branches, amount int NOT NULL);",
            "CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL UNIQUE);",
            "CREATE TABLE labels (id int PRIMARY KEY, label text);",
            "INSERT INTO branches (id) SELECT g FROM generate_series(1, 3) g;",
            "INSERT INTO accounts (id, branch) SELECT g, 1 + g % 3 FROM generate_series(1, 30) g;",
            "INSERT INTO users VALUES (1, 'a'), (2, 'b');",
            "INSERT INTO labels VALUES (1, 'initial');");
    static final List<String> TABLES = List.of("branches", "accounts", "ledger", "users", "labels");

    @Test
    void aBacklogOfSmallTransactionsOnHotRowsConvergesExactly() throws Exception {
        try (Pair pair = Pair.start(SCHEMA)) {
            pair.addSync("initial => 'none'"); // both nodes start from the same rows
            pair.blue.execute(Pair.DB, "SELECT mmsync.set_column_policy('branches', 'total', 'delta');"
                    + "SELECT mmsync.set_column_policy('accounts', 'balance', 'delta')");
            pair.startAgents();
            pair.awaitSyncOnGreen();
            Waits.until(java.time.Duration.ofSeconds(60), "column policies on green",
                    () -> pair.green.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.column_policies") == 2);
            pair.stopAgents();

            try (Connection blue = pair.blue.connect(Pair.DB); Connection green = pair.green.connect(Pair.DB);
                 Statement b = blue.createStatement(); Statement g = green.createStatement()) {
                for (int i = 0; i < 300; i++) {
                    int amount = i % 7 + 1;
                    int account = i % 30 + 1;
                    b.execute("UPDATE accounts SET balance = balance + " + amount + " WHERE id = " + account + ";"
                            + "UPDATE branches SET total = total + " + amount + ", note = 'blue " + i + "' WHERE id = 1;"
                            + "INSERT INTO ledger VALUES (" + (2 * i + 1) + ", " + account + ", 1, " + amount + ");"
                            + "UPDATE labels SET label = 'blue " + i + "' WHERE id = 1");
                    if (i % 3 == 0) {
                        g.execute("UPDATE branches SET total = total + 1 WHERE id = 1;"
                                + "UPDATE accounts SET balance = balance + 1 WHERE id = " + account + ";"
                                + "INSERT INTO ledger VALUES (" + (2 * i + 2) + ", " + account + ", 1, 1)");
                    }
                    switch (i) {
                        case 100: // a parent and its children come and go around the hot rows
                            b.execute("INSERT INTO branches (id) VALUES (10)");
                            b.execute("INSERT INTO accounts (id, branch) VALUES (100, 10)");
                            b.execute("INSERT INTO ledger VALUES (100001, 100, 10, 5)");
                            break;
                        case 150:
                            b.execute("DELETE FROM ledger WHERE id = 100001");
                            b.execute("DELETE FROM accounts WHERE id = 100");
                            b.execute("DELETE FROM branches WHERE id = 10");
                            break;
                        case 200: // users 1 and 2 swap names in three transactions
                            b.execute("UPDATE users SET name = 'tmp' WHERE id = 1");
                            break;
                        case 201:
                            b.execute("UPDATE users SET name = 'a' WHERE id = 2");
                            break;
                        case 202:
                            b.execute("UPDATE users SET name = 'b' WHERE id = 1");
                            break;
                        default:
                            break;
                    }
                }
            }

            pair.childAgent(pair.blue, Map.of("MMSYNC_LOG_LEVEL", "FINE"));
            pair.childAgent(pair.green);
            pair.awaitSynced();
            for (String t : TABLES) {
                assertEquals(Pair.fingerprint(pair.blue, t), Pair.fingerprint(pair.green, t), t + " differs");
            }
            for (PgCluster c : List.of(pair.blue, pair.green)) {
                // every balance is the sum of the ledger rows of both nodes
                assertEquals(0, c.queryLong(Pair.DB, "SELECT count(*) FROM accounts a WHERE balance <> "
                        + "(SELECT coalesce(sum(amount), 0) FROM ledger l WHERE l.account = a.id)"), c.name());
                assertEquals(c.queryLong(Pair.DB, "SELECT sum(amount) FROM ledger WHERE branch = 1"),
                        c.queryLong(Pair.DB, "SELECT total FROM branches WHERE id = 1"), c.name());
                assertEquals(400, c.queryLong(Pair.DB, "SELECT count(*) FROM ledger"), c.name());
                assertEquals("blue 299", c.queryString(Pair.DB, "SELECT label FROM labels WHERE id = 1"), c.name());
                assertEquals("blue 299", c.queryString(Pair.DB, "SELECT note FROM branches WHERE id = 1"), c.name());
                assertEquals("1:b,2:a", c.queryString(Pair.DB, "SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM users"));
                assertEquals(0, c.queryLong(Pair.DB, "SELECT count(*) FROM branches WHERE id = 10"), c.name());
                assertEquals(0, c.queryLong(Pair.DB, "SELECT count(*) FROM mmsync.set_aside"), c.name() + " set aside");
            }
            // blue's 1,209 changes reached green in one page transaction, in a few dozen statements
            // (change by change, it took about 1,200)
            assertEquals(1209, Pair.applied(pair.green, "blue"));
            Matcher m = Pattern.compile("blue->green: page of 1209 changes \\((\\d+) statements\\)")
                    .matcher(Files.readString(pair.agentLog(pair.blue)));
            assertTrue(m.find(), "page timings in " + pair.agentLog(pair.blue));
            int statements = Integer.parseInt(m.group(1));
            assertTrue(statements < 60, statements + " statements");
        }
    }
}
