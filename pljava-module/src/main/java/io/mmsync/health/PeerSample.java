package io.mmsync.health;

import java.time.Instant;

/**
 * One answer of the watcher of a peer, taken at {@code at}: the peer's side (error is null when the
 * peer answered) and, from the local database in the same tick, what this node still has to send
 * to the peer ({@code localOk} false when the local database did not answer).
 *
 * @param backlogToMe changes the peer still has to send to this node (summed over syncs)
 * @param lagToMe     age in seconds of the oldest of them
 * @param linkDownToMe the peer has changes for this node but its link here is not delivering
 * @param beatAge     age in seconds of the peer's health heartbeat; null if it has none
 * @param ourBacklog  changes this node still has to send to the peer
 * @param ourLag      age in seconds of the oldest of those
 * @param ourLinkDown this node has changes for the peer but its link there is not delivering
 */
record PeerSample(Instant at, String error, String node, boolean inRecovery, boolean readOnly, long backlogToMe,
                  double lagToMe, boolean linkDownToMe, Double beatAge, boolean localOk, long ourBacklog,
                  double ourLag, boolean ourLinkDown) {

    boolean reachable() {
        return error == null;
    }

    boolean writable() {
        return reachable() && !inRecovery && !readOnly;
    }

    /**
     * Null if this node has received what the peer has for it, within {@code lag}; else what the
     * peer still has, as the end of a sentence starting with the peer's name.
     */
    String lacking(Lag lag) {
        if (backlogToMe > 0 && linkDownToMe) {
            return "has " + backlogToMe + " changes for this node, and its link here is down";
        }
        return lag.admits(backlogToMe, lagToMe) ? null : "still has " + backlogToMe + " changes to send here, the oldest "
                + Verdicts.round(lagToMe) + " s old (lag=" + lag + ")";
    }

    /** Null if the peer has received what this node has for it, within {@code lag}; else what it lacks. */
    String peerLacking(Lag lag) {
        if (!localOk) {
            return "this node's backlog towards it is unknown";
        }
        if (ourBacklog > 0 && ourLinkDown) {
            return "this node's link to it is down with " + ourBacklog + " changes waiting";
        }
        return lag.admits(ourBacklog, ourLag) ? null : "this node still has " + ourBacklog + " changes to send to it, the oldest "
                + Verdicts.round(ourLag) + " s old";
    }
}
