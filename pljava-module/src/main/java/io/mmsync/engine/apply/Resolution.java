package io.mmsync.engine.apply;

/** How a conflict ended, as {@code mmsync.conflicts.resolution} records it ({@link #sql()}). */
enum Resolution {
    REMOTE_APPLIED("remote_applied"),
    LOCAL_KEPT("local_kept"),
    /** delta columns added up, the rest decided as the strategy says */
    MERGED("merged"),
    /** abort strategy, waiting for mmsync.resolve_conflict */
    PENDING("pending"),
    /** both sides deleted the row: nothing won or lost */
    SKIPPED("skipped");

    private final String sql;

    Resolution(String sql) {
        this.sql = sql;
    }

    String sql() {
        return sql;
    }
}
