package io.mmsync.engine.model;

/**
 * How a sync settles a conflict ({@code mmsync.syncs.conflict}, see docs/conflicts.md). The SQL
 * text of each is its {@link #sql()} name; {@link #fromSql} is the one way back. Persisted values:
 * append only.
 */
public enum ConflictStrategy implements SqlText {
    /** The change made later wins; ties go to the node whose name sorts first. */
    LATEST("latest"),
    /** The preferred node's version wins. */
    PREFER("prefer"),
    /** As prefer, the preferred node being the local one (set by mmsync.set_conflict). */
    KEEP_LOCAL("keep_local"),
    /** As prefer, the preferred node being the remote one (set by mmsync.set_conflict). */
    APPLY_REMOTE("apply_remote"),
    /** The sync stops until the DBA decides each conflict (mmsync.resolve_conflict). */
    ABORT("abort");

    private final String sql;

    ConflictStrategy(String sql) {
        this.sql = sql;
    }

    /** The value in mmsync.syncs.conflict and mmsync.conflicts.strategy. */
    @Override
    public String sql() {
        return sql;
    }

    /** The strategy named {@code text} in SQL; throws naming the value and the allowed ones. */
    public static ConflictStrategy fromSql(String text) {
        return SqlText.parse(ConflictStrategy.class, text, "conflict strategy", "mmsync.syncs.conflict");
    }
}
