package io.mmsync.health;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A readiness threshold from {@code ?lag=}: either an age ({@code 5s}, {@code 500ms}, {@code 1m}:
 * the oldest change the peer has not yet sent here is at most that old) or a count ({@code 100}:
 * at most that many changes are still to come). Immutable.
 */
public final class Lag {
    private static final Pattern SYNTAX = Pattern.compile("(\\d{1,9}(?:\\.\\d{1,3})?)\\s*(ms|s|m|min|h)?");

    private final double seconds;
    private final long changes;

    private Lag(double seconds, long changes) {
        this.seconds = seconds;
        this.changes = changes;
    }

    /** At most {@code seconds} old (0: nothing may be waiting). */
    public static Lag ofSeconds(double seconds) {
        if (!(seconds >= 0)) {
            throw new IllegalArgumentException("lag must not be negative: " + seconds);
        }
        return new Lag(seconds, -1);
    }

    /** At most {@code n} changes waiting. */
    public static Lag ofChanges(long n) {
        if (n < 0) {
            throw new IllegalArgumentException("lag must not be negative: " + n);
        }
        return new Lag(-1, n);
    }

    /**
     * Parses {@code 5s}, {@code 1.5s}, {@code 500ms}, {@code 2m} / {@code 2min}, {@code 1h} (an age) or a plain
     * number (a change count). Throws IllegalArgumentException naming the bad value.
     */
    public static Lag parse(String text) {
        if (text == null) {
            throw new IllegalArgumentException("lag is missing");
        }
        Matcher m = SYNTAX.matcher(text.trim().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw new IllegalArgumentException("bad lag \"" + text
                    + "\": use an age (5s, 500ms, 1m, 1h) or a number of changes (100)");
        }
        double v = Double.parseDouble(m.group(1));
        String unit = m.group(2);
        if (unit == null) {
            if (m.group(1).contains(".")) {
                throw new IllegalArgumentException("bad lag \"" + text + "\": a change count is a whole number");
            }
            return ofChanges((long) v);
        }
        switch (unit) {
            case "ms":
                return ofSeconds(v / 1000.0);
            case "m":
            case "min":
                return ofSeconds(v * 60);
            case "h":
                return ofSeconds(v * 3600);
            default:
                return ofSeconds(v);
        }
    }

    public boolean isCount() {
        return changes >= 0;
    }

    /** True if a peer that still has {@code backlog} changes for us, the oldest {@code ageSeconds} old, is within. */
    public boolean admits(long backlog, double ageSeconds) {
        if (backlog <= 0) {
            return true;
        }
        return isCount() ? backlog <= changes : ageSeconds <= seconds;
    }

    /** The canonical query form, e.g. {@code 5s}, {@code 0.5s} or {@code 100}. */
    @Override
    public String toString() {
        if (isCount()) {
            return Long.toString(changes);
        }
        return (seconds == Math.rint(seconds) ? Long.toString((long) seconds) : Double.toString(seconds)) + "s";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Lag && ((Lag) o).seconds == seconds && ((Lag) o).changes == changes;
    }

    @Override
    public int hashCode() {
        return Double.hashCode(seconds) * 31 + Long.hashCode(changes);
    }
}
