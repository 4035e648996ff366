package io.mmsync.agent;

import java.util.logging.ConsoleHandler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/** One-line java.util.logging output on stderr for the agent, unless the user configured logging. */
final class Logging {
    private Logging() {
    }

    static void configure() {
        if (System.getProperty("java.util.logging.config.file") != null) {
            return;
        }
        System.setProperty("java.util.logging.SimpleFormatter.format", "%1$tF %1$tT.%1$tL %4$s %5$s%6$s%n");
        LogManager.getLogManager().reset();
        Logger root = Logger.getLogger("");
        ConsoleHandler h = new ConsoleHandler();
        h.setFormatter(new SimpleFormatter());
        Level level = Level.parse(System.getenv().getOrDefault("MMSYNC_LOG_LEVEL", "INFO"));
        h.setLevel(level);
        root.setLevel(level);
        root.addHandler(h);
    }
}
