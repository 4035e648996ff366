package io.mmsync.engine.apply;

/** What the peer does with an incoming change, as conflict resolution decided. */
enum Action {
    /** Apply the change (no conflict, or it won). */
    APPLY,
    /** Leave the peer's row as it is (the local version won). */
    SKIP,
    /** The local version won, but the change's delta columns are still added. */
    DELTA_ONLY,
    /**
     * An insert meeting a row of an older incarnation (delta columns, see Decision.Incarnation):
     * the row's delta columns become the insert's plus this node's later deltas; the other columns
     * follow the winner. The Resolver turns it into an upsert of the resulting row.
     */
    REBASE,
    /** Abort strategy: the DBA has not decided yet; the page is not applied. */
    PENDING
}
