package io.mmsync.engine.conn;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.Properties;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The timeouts every engine connection gets (see docs/operations.md, "Timeouts"): a read timeout,
 * so that a dead network path cannot hold a link in a socket read for ever; a server-side
 * idle-in-transaction timeout, so that a batch abandoned in the middle releases its locks; and
 * server-side TCP keepalives, so that dead sessions do not pile up.
 */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class ConnTimeoutsTest {
    @Test
    void defaultReadTimeoutIsTwentySeconds() {
        Properties p = ConnInfo.parse("host=10.0.0.3 port=5432 dbname=mattermost user=mmsync").jdbcProperties("test");
        assertEquals("20", p.getProperty("socketTimeout"));
        assertEquals("10", p.getProperty("connectTimeout"));
        assertEquals("-c idle_in_transaction_session_timeout=20000 -c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3", p.getProperty("options"));
        assertEquals(ConnInfo.DEFAULT_READ_TIMEOUT_SECONDS, ConnInfo.parse("host=h tcp_user_timeout=0").readTimeoutSeconds());
    }

    @Test
    void tcpUserTimeoutSetsItPerNode() {
        Properties p = ConnInfo.parse("host=h tcp_user_timeout=60000 connect_timeout=3").jdbcProperties("test");
        assertEquals("60", p.getProperty("socketTimeout"));
        assertEquals("3", p.getProperty("connectTimeout"));
        assertEquals("-c idle_in_transaction_session_timeout=60000 -c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3", p.getProperty("options"));
        // sub-second values round up; the server-side timeout never goes below 5 s (client pauses)
        p = ConnInfo.parse("postgresql://u@h/db?tcp_user_timeout=1500").jdbcProperties("test");
        assertEquals("2", p.getProperty("socketTimeout"));
        assertEquals("-c idle_in_transaction_session_timeout=5000 -c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3", p.getProperty("options"));
    }

    @Test
    void userOptionsAreKept() {
        Properties p = ConnInfo.parse("host=h options='-c work_mem=64MB'").jdbcProperties("test");
        assertTrue(p.getProperty("options").startsWith("-c work_mem=64MB -c idle_in_transaction_session_timeout="),
                p.getProperty("options"));
    }

    @Test
    void badValuesAreRefusedWithTheKeyword() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ConnInfo.parse("host=h tcp_user_timeout=soon").jdbcProperties("test"));
        assertTrue(e.getMessage().contains("tcp_user_timeout \"soon\""), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ConnInfo.parse("host=h tcp_user_timeout=-5").readTimeoutSeconds());
        assertTrue(e.getMessage().contains("tcp_user_timeout must not be negative"), e.getMessage());
    }

    @Test
    void theHealthEndpointsConnectionsBoundEveryWait() {
        Connector engine = new Connector("green", "host=h dbname=d user=u");
        Properties e = engine.properties("sender");
        assertEquals("mmsync sender", e.getProperty("ApplicationName"));
        Properties h = engine.bounded(java.time.Duration.ofMillis(1500)).properties("health probe");
        assertEquals("mmsync health probe", h.getProperty("ApplicationName"));
        assertEquals("2", h.getProperty("connectTimeout"));
        assertEquals("3", h.getProperty("loginTimeout"));
        assertEquals("3", h.getProperty("socketTimeout"));
        String options = h.getProperty("options");
        assertTrue(options.contains("-c statement_timeout=1500 -c lock_timeout=1500 -c idle_in_transaction_session_timeout=15000"), options);
        assertEquals(e.getProperty("options"), options.substring(0, options.indexOf(" -c statement_timeout")), "the engine's options kept");
    }
}
