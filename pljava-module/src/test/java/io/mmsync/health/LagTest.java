package io.mmsync.health;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(10)
class LagTest {
    @Test
    void parsesAgesAndCounts() {
        assertEquals(Lag.ofSeconds(5), Lag.parse("5s"));
        assertEquals(Lag.ofSeconds(0.5), Lag.parse("500ms"));
        assertEquals(Lag.ofSeconds(1.5), Lag.parse("1.5s"));
        assertEquals(Lag.ofSeconds(120), Lag.parse("2m"));
        assertEquals(Lag.ofSeconds(120), Lag.parse("2min"));
        assertEquals(Lag.ofSeconds(3600), Lag.parse("1h"));
        assertEquals(Lag.ofChanges(100), Lag.parse("100"));
        assertEquals(Lag.ofChanges(0), Lag.parse("0"));
        assertEquals("0.5s", Lag.parse("500ms").toString());
        assertEquals("100", Lag.parse("100").toString());
    }

    @Test
    void rejectsWhatItCannotRead() {
        for (String bad : new String[] {"", "soon", "-1", "5 seconds", "1.5", "1e3", "5d"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Lag.parse(bad), bad);
            assertTrue(e.getMessage().contains("\"" + bad + "\""), e.getMessage());
        }
    }

    @Test
    void admitsByAgeOrByCount() {
        Lag age = Lag.ofSeconds(1);
        assertTrue(age.admits(0, 99), "nothing waiting is always within");
        assertTrue(age.admits(1000, 1.0));
        assertFalse(age.admits(1, 1.001));
        Lag count = Lag.ofChanges(10);
        assertTrue(count.admits(10, 99));
        assertFalse(count.admits(11, 0));
        assertFalse(Lag.ofChanges(0).admits(1, 0));
    }

    @Test
    void askReadsTheQueryParameters() {
        Ask a = Ask.parse(Map.of("lag", "100", "peer", "required", "backup", "green"), Lag.ofSeconds(1));
        assertEquals(new Ask(Lag.ofChanges(100), true, "green"), a);
        assertEquals("lag=100&peer=required&backup=green", a.query());
        assertEquals(Ask.of(Lag.ofSeconds(1)), Ask.parse(Map.of(), Lag.ofSeconds(1)));
        assertThrows(IllegalArgumentException.class, () -> Ask.parse(Map.of("peer", "maybe"), Lag.ofSeconds(1)));
        assertThrows(IllegalArgumentException.class, () -> Ask.parse(Map.of("backup", "Green; DROP"), Lag.ofSeconds(1)));
    }
}
