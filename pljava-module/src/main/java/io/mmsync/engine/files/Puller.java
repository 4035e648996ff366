package io.mmsync.engine.files;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.logging.Logger;

/**
 * Takes a peer's recorded changes of a synced directory and writes them here. Reads the peer's
 * rows of {@code mmsync.files} above the last change number taken (metadata only), decides each
 * ({@link Decision}), writes the files a top-level entry at a time (a new plugin directory is staged
 * and appears whole), additions before deletions (so a rename copies the content locally instead
 * of fetching it again), records each entry here, and only then moves its position past them. A
 * file changed here but not yet recorded (still settling) holds the position back: it is decided
 * when recorded, never overwritten unseen.
 */
final class Puller {
    private static final Logger LOG = Logger.getLogger(Puller.class.getName());

    private final FileSyncDef def;
    private final String me;
    private final String peer;
    private final FileStore store;
    private final DiskWriter writer;
    private final Set<String> conflictsLogged = new HashSet<>();

    private final io.mmsync.engine.time.Clock clock;

    Puller(FileSyncDef def, String me, String peer, FileStore store, DiskWriter writer, io.mmsync.engine.time.Clock clock) {
        this.clock = clock;
        this.def = def;
        this.me = me;
        this.peer = peer;
        this.store = store;
        this.writer = writer;
    }

    /** One turn; returns how many files were written or deleted here. */
    int pull(Connection lc, Connection pc, Map<String, FileEntry> index) throws SQLException, IOException {
        long last = store.lastSeq(lc, peer);
        List<FileEntry> rows = new ArrayList<>();
        try (PreparedStatement st = pc.prepareStatement("SELECT " + FileStore.ROW_COLUMNS
                + " FROM mmsync.files WHERE sync_name = ? AND fs_name = ? AND seq > ? ORDER BY seq, path")) {
            st.setString(1, def.sync());
            st.setString(2, def.name());
            st.setLong(3, last);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    rows.add(FileStore.read(rs));
                }
            }
        }
        if (rows.isEmpty()) {
            return 0;
        }
        long top = rows.get(rows.size() - 1).seq();
        boolean deferred = false;
        List<FileEntry> agreements = new ArrayList<>();
        Map<String, List<FileEntry>> units = new LinkedHashMap<>();
        Map<String, Decision> decided = new HashMap<>();
        int files = 0;
        long bytes = 0;
        for (FileEntry r : rows) {
            if (!DiskWriter.safePath(r.path()) || DiskScan.isTemp(r.path())) {
                String msg = def.label() + ": " + peer + " sent a file path that is not a plain relative path: " + r.path()
                        + "; not written";
                LOG.warning("mmsync " + msg);
                store.progress(lc, peer, null, 0, 0, null, 0, true, msg);
                continue;
            }
            FileEntry l = index.get(r.path());
            Decision d = Decision.decide(l, r, me, def.conflict(), def.prefer());
            if (d == Decision.AGREE) {
                agreements.add(l.withAgreed(r.key()));
            } else if (d == Decision.CONFLICT_KEEP_LOCAL) {
                logConflict(lc, l, r, true, null);
            } else if (d == Decision.APPLY || d == Decision.CONFLICT_TAKE_REMOTE) {
                if (!onDiskAsRecorded(l, r.path())) {
                    deferred = true;
                    continue;
                }
                decided.put(r.path(), d);
                units.computeIfAbsent(r.unit(), u -> new ArrayList<>()).add(r);
                if (!r.deleted()) {
                    files++;
                    bytes += r.size();
                }
            }
        }
        for (FileEntry a : store.record(lc, agreements, false)) {
            index.put(a.path(), a);
        }
        store.progress(lc, peer, null, files, bytes, null, 0, false, null);
        int written = 0;
        long start = clock.nanoTime();
        long total = bytes;
        Map<String, Path> byHash = localCopies(index);
        UnitWriter unitWriter = new UnitWriter(def.directory(), writer);
        // units with something to write first, then those that only go: a renamed plugin's files are
        // copied from the old directory before it is deleted
        for (boolean onlyDeletions : new boolean[] {false, true}) {
            for (Map.Entry<String, List<FileEntry>> u : units.entrySet()) {
                List<FileEntry> part = u.getValue();
                if (part.stream().allMatch(FileEntry::deleted) != onlyDeletions) {
                    continue;
                }
                Set<String> conflicts = new HashSet<>();
                part.forEach(r -> {
                    if (decided.get(r.path()) == Decision.CONFLICT_TAKE_REMOTE) {
                        conflicts.add(r.path());
                    }
                });
                List<FileEntry> done = unitWriter.apply(pc, index, u.getKey(), part, conflicts, (l, r) -> moveAside(lc, l, r), byHash);
                for (FileEntry e : store.record(lc, done, true)) {
                    index.put(e.path(), e);
                    if (!e.deleted()) {
                        files--;
                        bytes -= e.size();
                    }
                }
                written += done.size();
                store.progress(lc, peer, null, files, bytes, done.get(done.size() - 1).path(), done.size(), false, null);
            }
        }
        store.progress(lc, peer, deferred ? null : top, 0, 0, null, 0, false, null);
        if (written > 0) {
            LOG.info(String.format("mmsync %s: wrote %d files (%.1f MiB) from %s in %.0f ms%s", def.label(), written, total / 1048576.0,
                    peer, clock.nanosSince(start) / 1e6, deferred ? " (some wait for local changes to settle)" : ""));
        }
        return written;
    }

    /** This node's version lost a conflict: it becomes a conflict copy beside the file (if there is one), logged. */
    private void moveAside(Connection lc, FileEntry l, FileEntry r) throws SQLException, IOException {
        Path target = def.directory().resolve(r.path());
        String copy = null;
        if (l != null && !l.deleted() && Files.exists(target)) {
            copy = Decision.conflictCopy(r.path(), l.changedAt(), l.origin());
            writer.moveAside(target, def.directory().resolve(copy));
        }
        logConflict(lc, l, r, false, copy);
    }

    /** Files here whose recorded content is still on disk as recorded, by hash: copied instead of fetched. */
    private Map<String, Path> localCopies(Map<String, FileEntry> index) {
        Map<String, Path> m = new HashMap<>();
        for (FileEntry e : index.values()) {
            if (!e.deleted() && !m.containsKey(e.hash()) && onDiskAsRecorded(e, e.path())) {
                m.put(e.hash(), def.directory().resolve(e.path()));
            }
        }
        return m;
    }

    /** Whether the file on disk is what this node last recorded (absent if it recorded none, or a deletion). */
    private boolean onDiskAsRecorded(FileEntry l, String path) {
        Path p = def.directory().resolve(path);
        try {
            if (l == null || l.deleted()) {
                return !Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS);
            }
            DiskScan.Stat s = DiskScan.stat(p);
            return s.size() == l.size() && s.mtimeUs() == l.mtimeUs() && s.mode() == l.mode();
        } catch (IOException e) {
            return false;
        }
    }

    private void logConflict(Connection lc, FileEntry l, FileEntry r, boolean keptLocal, String copy) throws SQLException {
        if (!conflictsLogged.add(r.path() + "\n" + r.key() + "\n" + l.key())) {
            return;
        }
        store.conflict(lc, r.path(), def.conflict(), keptLocal, peer, l, r, copy);
        LOG.warning("mmsync " + def.label() + ": file " + r.path() + " was changed here and on " + peer + "; kept the "
                + (keptLocal ? "version of this node" : "version of " + peer) + " (" + def.conflict() + ")"
                + (copy != null ? ", this node's version is now " + copy : "") + "; see mmsync.file_conflicts");
    }
}
