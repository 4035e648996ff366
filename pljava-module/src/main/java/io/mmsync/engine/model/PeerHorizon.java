package io.mmsync.engine.model;

import java.time.Instant;
import java.util.Objects;

/**
 * The peer's snapshot right after an apply committed (a purge mark's horizon), with the peer's
 * clock when the statement began, before the snapshot was taken (issue 17: a node that has
 * applied the peer up to the horizon has every change the peer made before that time, but for
 * those of transactions still open then; see mmsync._purge_row_versions).
 */
public record PeerHorizon(String snapshot, Instant at) {
    /** What the peer is asked for it, right after the apply's COMMIT in the same request. */
    public static final String SQL = "SELECT pg_catalog.pg_current_snapshot()::text, pg_catalog.statement_timestamp()";

    public PeerHorizon {
        Objects.requireNonNull(snapshot, "snapshot");
        Objects.requireNonNull(at, "at");
    }
}
