/**
 * The applying side, run against the peer inside one peer transaction per page: {@code Applier}
 * (the transaction, progress row, set-aside fallback), {@code Resolver} (conflicts with the peer's
 * own queued changes; its rules are the pure {@code Decision}), {@code RunPlanner} and {@code Run}
 * (a page cut into set-based statements), {@code RunExecutor} (the statements), {@code SetAside}
 * (changes the peer rejects, kept and retried), {@code ConflictLog} (mmsync.conflicts) and the
 * peer's table descriptions ({@code TableShape}, {@code TableConstraints}, {@code PeerTables}).
 * Never imports {@code send}: what both sides need is in {@code model}.
 */
package io.mmsync.engine.apply;
