package io.mmsync.it;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs {@link Soak} for -Dmmsync.soak.minutes: 1 in the ordinary test run (pom.xml), so CI runs a
 * short soak; test-env/soak sets a longer one (and the file for the verdict line,
 * -Dmmsync.soak.verdict). -Dmmsync.soak.minutes=0 skips it.
 */
class SoakIT {
    @Test
    @Timeout(value = 12, unit = TimeUnit.HOURS)
    void writesAndRandomFaultsLoseNothing() throws Exception {
        String minutes = System.getProperty("mmsync.soak.minutes");
        Assumptions.assumeTrue(minutes != null && !minutes.isBlank() && Double.parseDouble(minutes) > 0,
                "soak not requested (-Dmmsync.soak.minutes=0)");
        Duration d = Duration.ofMillis(Math.round(Double.parseDouble(minutes) * 60_000));
        long seed = Long.getLong("mmsync.seed", System.nanoTime());
        Soak soak = new Soak(d, seed);
        Soak.Verdict v;
        try {
            v = soak.run();
        } finally {
            System.out.println(soak.journal());
        }
        System.out.println(v);
        String file = System.getProperty("mmsync.soak.verdict");
        if (file != null && !file.isBlank()) {
            Files.writeString(Path.of(file), v + "\n");
        }
        assertTrue(v.ok(), v + "\n" + soak.journal());
    }
}
