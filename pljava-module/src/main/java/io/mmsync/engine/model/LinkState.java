package io.mmsync.engine.model;

/**
 * The state of a link as this node's sender records it in {@code mmsync.links.state} (whose CHECK
 * allows exactly these texts). {@link #sql()} is the one mapping to SQL text; {@link #fromSql}
 * the one way back. Persisted values: append only.
 */
public enum LinkState {
    STARTING("starting"),
    CONNECTING("connecting"),
    RUNNING("running"),
    DISCONNECTED("disconnected"),
    PAUSED("paused"),
    ERROR("error");

    private final String sql;

    LinkState(String sql) {
        this.sql = sql;
    }

    public String sql() {
        return sql;
    }

    public static LinkState fromSql(String text) {
        for (LinkState s : values()) {
            if (s.sql.equals(text)) {
                return s;
            }
        }
        throw new IllegalArgumentException("mmsync: unknown link state \"" + text + "\" in mmsync.links");
    }
}
