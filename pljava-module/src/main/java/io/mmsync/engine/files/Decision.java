package io.mmsync.engine.files;

import java.util.Objects;

/**
 * What a node does with a peer's record of a file, given its own. A node that applies the peer's
 * content notes it as agreed; a record whose content this node made ({@code origin} is this node)
 * is this node's own change coming back, never applied. A conflict is a change on both sides since
 * they last agreed: the sync's strategy picks the version kept, the same way on both nodes.
 */
enum Decision {
    /** Same content on both: note the agreement. */
    AGREE,
    /** Nothing to do. */
    IGNORE,
    /** Take the peer's version: this node did not change the file since they last agreed. */
    APPLY,
    /** Both changed it; this node's version is kept (the peer keeps this node's loser as a conflict copy). */
    CONFLICT_KEEP_LOCAL,
    /** Both changed it; the peer's version is kept, this node's is moved to a conflict copy. */
    CONFLICT_TAKE_REMOTE;

    static Decision decide(FileEntry local, FileEntry remote, String me, String conflict, String prefer) {
        String lk = local == null ? null : local.key();
        String rk = remote.key();
        if (rk.equals(lk)) {
            return Objects.equals(local.agreed(), rk) ? IGNORE : AGREE;
        }
        if (local == null && remote.deleted()) {
            return IGNORE;
        }
        if (remote.origin().equals(me) || (local != null && rk.equals(local.agreed()))) {
            return IGNORE;
        }
        boolean localChanged = local != null && !lk.equals(local.agreed()) && !(local.deleted() && local.agreed() == null);
        if (!localChanged) {
            return APPLY;
        }
        return remoteWins(local, remote, conflict, prefer) ? CONFLICT_TAKE_REMOTE : CONFLICT_KEEP_LOCAL;
    }

    /**
     * The strategies of mmsync.set_conflict, as for rows (docs/conflicts.md): prefer, keep_local and
     * apply_remote are node priorities ({@code prefer} names the node, the same on both nodes), its
     * version wins; latest, and abort (which for rows waits for a decision, for files has a copy to
     * fall back on), keep the later change.
     */
    static boolean remoteWins(FileEntry local, FileEntry remote, String conflict, String prefer) {
        if (prefer != null && !"latest".equals(conflict) && !"abort".equals(conflict)
                && remote.origin().equals(prefer) != local.origin().equals(prefer)) {
            return remote.origin().equals(prefer);
        }
        return latest(local, remote);
    }

    /** The later change wins; at the same instant, the node whose name sorts first (both nodes agree). */
    private static boolean latest(FileEntry local, FileEntry remote) {
        int c = remote.changedAt().compareTo(local.changedAt());
        if (c != 0) {
            return c > 0;
        }
        int o = remote.origin().compareTo(local.origin());
        return o != 0 ? o < 0 : remote.key().compareTo(local.key()) > 0;
    }

    /** {@code dir/name.ext} -> {@code dir/name.sync-conflict-<date>-<time>-<node>.ext} (as Syncthing names them). */
    static String conflictCopy(String path, java.time.Instant at, String node) {
        int slash = path.lastIndexOf('/');
        String dir = path.substring(0, slash + 1);
        String file = path.substring(slash + 1);
        int dot = file.lastIndexOf('.');
        String base = dot > 0 ? file.substring(0, dot) : file;
        String ext = dot > 0 ? file.substring(dot) : "";
        String stamp = java.time.format.DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss").withZone(java.time.ZoneOffset.UTC).format(at);
        return dir + base + ".sync-conflict-" + stamp + "-" + node + ext;
    }
}
