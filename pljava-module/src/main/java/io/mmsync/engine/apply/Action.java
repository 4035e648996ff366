package io.mmsync.engine.apply;

/** What the peer does with an incoming change, as conflict resolution decided. */
enum Action {
    /** Apply the change (no conflict, or it won). */
    APPLY,
    /** Leave the peer's row as it is (the local version won). */
    SKIP,
    /** The local version won, but the change's delta columns are still added. */
    DELTA_ONLY,
    /** Abort strategy: the DBA has not decided yet; the page is not applied. */
    PENDING
}
