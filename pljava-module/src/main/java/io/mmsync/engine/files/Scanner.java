package io.mmsync.engine.files;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.logging.Logger;

/**
 * Finds what changed in this node's copy of a synced directory and records it in
 * {@code mmsync.files}. The unit of change is a top-level entry of the directory (a plugin's
 * directory, or a file): a unit is recorded only once its listing (paths, sizes, times, modes)
 * has stayed the same for the settle time, and all of its changes go in one transaction, so a
 * plugin being unpacked, or a file being written slowly, is never recorded half-way.
 */
final class Scanner {
    private static final Logger LOG = Logger.getLogger(Scanner.class.getName());

    private record Pending(String fingerprint, long since) {
    }

    private final FileSyncDef def;
    private final String me;
    private final FileStore store;
    private final Duration settle;
    private final List<PathMatcher> ignore;
    private final Map<String, Pending> pending = new HashMap<>();
    private final Set<String> reported = new HashSet<>();
    private String lastProblem;

    private final io.mmsync.engine.time.Clock clock;

    Scanner(FileSyncDef def, String me, FileStore store, Duration settle, io.mmsync.engine.time.Clock clock) {
        this.clock = clock;
        this.def = def;
        this.me = me;
        this.store = store;
        this.settle = settle;
        this.ignore = DiskScan.matchers(def.ignore());
    }

    /** True while some unit is changing: the caller scans again after {@link #settle}. */
    boolean unsettled() {
        return !pending.isEmpty();
    }

    /** The last file refused (too large, a symlink, ...) with the reason, or null. */
    String lastProblem() {
        return lastProblem;
    }

    /** Walks the directory, records every settled unit's changes in one transaction; returns the walk. */
    DiskScan scan(Connection c, Map<String, FileEntry> index) throws IOException, SQLException {
        DiskScan disk = DiskScan.walk(def.directory(), ignore);
        report(disk.refused);
        Map<String, TreeMap<String, DiskScan.Stat>> units = new HashMap<>();
        disk.files.forEach((p, s) -> units.computeIfAbsent(unit(p), u -> new TreeMap<>()).put(p, s));
        Set<String> changed = new HashSet<>();
        disk.files.forEach((p, s) -> {
            FileEntry e = index.get(p);
            if (e == null || e.deleted() || e.size() != s.size() || e.mtimeUs() != s.mtimeUs() || e.mode() != s.mode()) {
                if (!tooLarge(p, s)) {
                    changed.add(unit(p));
                }
            }
        });
        index.values().forEach(e -> {
            if (!e.deleted() && !disk.files.containsKey(e.path()) && !disk.refused.containsKey(e.path())
                    && !DiskScan.ignored(ignore, e.path())) {
                changed.add(e.unit());
            }
        });
        pending.keySet().retainAll(changed);
        long now = clock.nanoTime();
        List<String> ready = new ArrayList<>();
        for (String u : changed) {
            String fp = String.valueOf(units.getOrDefault(u, new TreeMap<>()));
            Pending p = pending.get(u);
            if (p == null || !p.fingerprint().equals(fp)) {
                pending.put(u, new Pending(fp, now));
            } else if (now - p.since() >= settle.toNanos()) {
                ready.add(u);
            }
        }
        if (!ready.isEmpty()) {
            record(c, index, disk, ready);
        }
        return disk;
    }

    private void record(Connection c, Map<String, FileEntry> index, DiskScan disk, List<String> ready) throws IOException, SQLException {
        long start = clock.nanoTime();
        List<FileEntry> changes = new ArrayList<>();
        List<FileEntry> quiet = new ArrayList<>();
        Instant now = clock.instant();
        for (String u : ready) {
            List<FileEntry> unitChanges = new ArrayList<>();
            boolean whole = true;
            for (Map.Entry<String, DiskScan.Stat> f : disk.files.entrySet()) {
                String p = f.getKey();
                DiskScan.Stat s = f.getValue();
                FileEntry e = index.get(p);
                if (!unit(p).equals(u) || tooLarge(p, s) || (e != null && !e.deleted() && e.size() == s.size()
                        && e.mtimeUs() == s.mtimeUs() && e.mode() == s.mode())) {
                    continue;
                }
                Chunker.Content content;
                try {
                    content = Chunker.store(c, def.directory().resolve(p), s);
                } catch (NoSuchFileException gone) {
                    content = null;
                }
                if (content == null) {
                    whole = false; // changed while read: the whole unit waits for the next settled scan
                    break;
                }
                Instant at = Instant.ofEpochSecond(0, s.mtimeUs() * 1000);
                if (e != null && !e.deleted() && e.hash().equals(content.hash()) && e.mode() == s.mode()) {
                    // touched, same content: only the time moves, the peer needs nothing
                    quiet.add(new FileEntry(p, e.hash(), e.chunks(), e.size(), e.mode(), s.mtimeUs(), false, e.origin(),
                            e.changedAt(), e.agreed(), e.seq()));
                    continue;
                }
                unitChanges.add(new FileEntry(p, content.hash(), content.chunks(), content.size(), s.mode(), s.mtimeUs(), false,
                        me, at, e == null ? null : e.agreed(), 0));
            }
            if (!whole) {
                pending.remove(u);
                continue;
            }
            for (FileEntry e : index.values()) {
                if (e.unit().equals(u) && !e.deleted() && !disk.files.containsKey(e.path()) && !disk.refused.containsKey(e.path())
                        && !DiskScan.ignored(ignore, e.path())) {
                    unitChanges.add(FileEntry.deletion(e.path(), me, now, e.agreed()));
                }
            }
            changes.addAll(unitChanges);
            pending.remove(u);
        }
        for (FileEntry e : store.record(c, quiet, false)) {
            index.put(e.path(), e);
        }
        for (FileEntry e : store.record(c, changes, true)) {
            index.put(e.path(), e);
            LOG.fine(() -> def.label() + ": recorded " + (e.deleted() ? "deletion of " : "") + e.path());
        }
        if (!changes.isEmpty()) {
            long bytes = changes.stream().mapToLong(FileEntry::size).sum();
            LOG.info(String.format("mmsync %s: recorded %d changed files (%.1f MiB) of %d top-level entries in %.0f ms",
                    def.label(), changes.size(), bytes / 1048576.0, ready.size(), clock.nanosSince(start) / 1e6));
        }
    }

    private boolean tooLarge(String path, DiskScan.Stat s) {
        if (s.size() <= def.maxFileSize()) {
            return false;
        }
        report(Map.of(path, "is " + s.size() + " bytes, over the file sync's max_file_size of " + def.maxFileSize()
                + " bytes; not synced (raise it with mmsync.add_file_sync(..., max_file_size => ...) after remove_file_sync, or add it to ignore)"));
        return true;
    }

    private void report(Map<String, String> problems) {
        problems.forEach((p, why) -> {
            String msg = def.label() + ": file " + p + " " + why;
            lastProblem = msg;
            if (reported.add(msg)) {
                LOG.warning("mmsync " + msg);
            }
        });
    }

    static String unit(String path) {
        int slash = path.indexOf('/');
        return slash < 0 ? path : path.substring(0, slash);
    }

    Path root() {
        return def.directory();
    }
}
