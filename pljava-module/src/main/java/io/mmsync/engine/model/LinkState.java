package io.mmsync.engine.model;

/**
 * The state of a link as this node's sender records it in {@code mmsync.links.state} (whose CHECK
 * allows exactly these texts). {@link #sql()} is the one mapping to SQL text; {@link #fromSql}
 * the one way back. Persisted values: append only.
 */
public enum LinkState implements SqlText {
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

    @Override
    public String sql() {
        return sql;
    }

    public static LinkState fromSql(String text) {
        return SqlText.parse(LinkState.class, text, "link state", "mmsync.links.state");
    }
}
