package io.mmsync.engine.files;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Writes one top-level entry (a plugin's directory, or a file) of a peer's changes so that a
 * server looking at it sees the old version whole or the new one whole:
 * <ul>
 * <li>a new directory is built in a hidden staging directory and renamed into place;</li>
 * <li>a directory that changes (a plugin upgraded) or goes is swapped: the new version is built
 *     beside it (unchanged files hard-linked, changed ones written), then the old one is renamed
 *     to a hidden name and the new one into place, two renames a moment apart, and the old one
 *     deleted; only when the directory holds exactly the files recorded here (nothing ignored,
 *     nothing unrecorded that the swap would take away), else file by file;</li>
 * <li>a file is written to a temporary name and renamed over the old one ({@link DiskWriter}).</li>
 * </ul>
 */
final class UnitWriter {
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(UnitWriter.class.getName());
    /** What to do with a conflict's local loser before the peer's version is written: see {@link Puller}. */
    interface ConflictHook {
        void takeRemote(FileEntry local, FileEntry remote) throws SQLException, IOException;
    }

    private final Path root;
    private final DiskWriter writer;

    UnitWriter(Path root, DiskWriter writer) {
        this.root = root;
        this.writer = writer;
    }

    /**
     * Applies {@code part} (the peer's entries of top-level entry {@code unit}); {@code conflicts}
     * names the paths whose local version loses a conflict. Returns the entries to record here.
     */
    List<FileEntry> apply(Connection pc, Map<String, FileEntry> index, String unit, List<FileEntry> part, Set<String> conflicts,
                          ConflictHook hook, Map<String, Path> byHash) throws SQLException, IOException {
        Path dir = root.resolve(unit);
        boolean tree = part.stream().allMatch(e -> e.path().contains("/"));
        if (tree && conflicts.isEmpty() && !Files.exists(dir, LinkOption.NOFOLLOW_LINKS) && part.stream().noneMatch(FileEntry::deleted)) {
            return build(pc, unit, part, Map.of(), byHash, false);
        }
        if (tree && conflicts.isEmpty() && Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            Map<String, FileEntry> current = recordedFiles(index, unit);
            if (current != null && holdsExactly(dir, unit, current.keySet())) {
                return build(pc, unit, part, current, byHash, true);
            }
        }
        return fileByFile(pc, index, part, conflicts, hook, byHash);
    }

    /** Builds the unit's new version in a staging directory and puts it in place (swapping out the old one). */
    private List<FileEntry> build(Connection pc, String unit, List<FileEntry> part, Map<String, FileEntry> current,
                                  Map<String, Path> byHash, boolean swap) throws SQLException, IOException {
        Map<String, FileEntry> next = new TreeMap<>(current);
        for (FileEntry r : part) {
            if (r.deleted()) {
                next.remove(r.path());
            } else {
                next.put(r.path(), r);
            }
        }
        List<FileEntry> done = new ArrayList<>();
        Path staging = null;
        try {
            if (!next.isEmpty()) {
                staging = writer.newStaging(unit);
                for (FileEntry e : next.values()) {
                    Path into = staging.resolve(e.path().substring(unit.length() + 1));
                    if (current.get(e.path()) == e) {
                        writer.link(root.resolve(e.path()), into); // unchanged: the same file under the new tree
                    } else {
                        writer.write(into, e, byHash.get(e.hash()), pc);
                    }
                }
            }
            Path old = swap ? writer.retire(unit) : null;
            if (staging != null) {
                writer.publish(staging, unit);
                staging = null;
            }
            if (old != null) {
                deleteTree(old);
                LOG.info("mmsync file sync " + root + ": " + unit + (next.isEmpty() ? " removed whole" : ": new version swapped in whole")
                        + " (" + part.size() + " changed files)");
            } else {
                LOG.info("mmsync file sync " + root + ": " + unit + ": appeared whole (" + part.size() + " files)");
            }
        } finally {
            if (staging != null) {
                deleteTree(staging);
            }
        }
        for (FileEntry r : part) {
            done.add(r.deleted() ? FileEntry.deletion(r.path(), r.origin(), r.changedAt(), FileEntry.DELETED) : r.withAgreed(r.hash()));
        }
        return done;
    }

    private List<FileEntry> fileByFile(Connection pc, Map<String, FileEntry> index, List<FileEntry> part, Set<String> conflicts,
                                       ConflictHook hook, Map<String, Path> byHash) throws SQLException, IOException {
        List<FileEntry> done = new ArrayList<>();
        for (boolean deletions : new boolean[] {false, true}) {
            for (FileEntry r : part) {
                if (r.deleted() != deletions) {
                    continue;
                }
                if (conflicts.contains(r.path())) {
                    hook.takeRemote(index.get(r.path()), r);
                }
                Path target = root.resolve(r.path());
                if (r.deleted()) {
                    writer.delete(target);
                    done.add(FileEntry.deletion(r.path(), r.origin(), r.changedAt(), FileEntry.DELETED));
                } else {
                    writer.write(target, r, byHash.get(r.hash()), pc);
                    done.add(r.withAgreed(r.hash()));
                }
            }
        }
        return done;
    }

    /** The unit's files as recorded here, or null when one of them is not on disk as recorded. */
    private Map<String, FileEntry> recordedFiles(Map<String, FileEntry> index, String unit) {
        Map<String, FileEntry> m = new TreeMap<>();
        for (FileEntry e : index.values()) {
            if (!e.deleted() && e.unit().equals(unit)) {
                try {
                    DiskScan.Stat s = DiskScan.stat(root.resolve(e.path()));
                    if (s.size() != e.size() || s.mtimeUs() != e.mtimeUs() || s.mode() != e.mode()) {
                        return null;
                    }
                } catch (IOException gone) {
                    return null;
                }
                m.put(e.path(), e);
            }
        }
        return m;
    }

    /** Whether the directory holds regular files at exactly these paths and nothing else but directories. */
    private boolean holdsExactly(Path dir, String unit, Set<String> paths) throws IOException {
        Set<String> seen = new HashSet<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.toList()) {
                if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                    continue;
                }
                String rel = DiskScan.relative(root, p);
                if (!Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS) || !paths.contains(rel)) {
                    return false;
                }
                seen.add(rel);
            }
        }
        return seen.size() == paths.size();
    }

    static void deleteTree(Path p) throws IOException {
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path x : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(x);
            }
        }
    }
}
