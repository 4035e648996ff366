package io.mmsync.engine.files;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One walk of a synced directory: every regular file (size, modification time, mode) by its
 * path relative to the root ('/'-separated), the directories (for the watcher), and what was
 * refused: symlinks and special files are not synced, each is named once in the log.
 */
final class DiskScan {
    /** Names mmsync itself uses for files being written and trees being staged: never synced. */
    static final String TEMP_PREFIX = ".mmsync-";

    /** Whether a relative path names one of mmsync's own temporary files or directories. */
    static boolean isTemp(String path) {
        for (String part : path.split("/")) {
            if (part.startsWith(TEMP_PREFIX)) {
                return true;
            }
        }
        return false;
    }

    record Stat(long size, long mtimeUs, int mode) {
    }

    final Map<String, Stat> files = new HashMap<>();
    final List<Path> directories = new ArrayList<>();
    final Map<String, String> refused = new HashMap<>();

    private DiskScan() {
    }

    static DiskScan walk(Path root, List<PathMatcher> ignore) throws IOException {
        DiskScan s = new DiskScan();
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                if (!dir.equals(root)) {
                    String rel = relative(root, dir);
                    if (dir.getFileName().toString().startsWith(TEMP_PREFIX) || ignored(ignore, rel)) {
                        return FileVisitResult.SKIP_SUBTREE;
                    }
                }
                s.directories.add(dir);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                String rel = relative(root, file);
                if (file.getFileName().toString().startsWith(TEMP_PREFIX) || ignored(ignore, rel)) {
                    return FileVisitResult.CONTINUE;
                }
                if (attrs.isSymbolicLink()) {
                    s.refused.put(rel, "is a symbolic link; mmsync syncs regular files only (copy the target in, or add the link to ignore)");
                } else if (!attrs.isRegularFile()) {
                    s.refused.put(rel, "is a special file (device, socket or FIFO); mmsync syncs regular files only (add it to ignore)");
                } else {
                    try {
                        s.files.put(rel, stat(file));
                    } catch (NoSuchFileException e) {
                        // deleted between listing and stat: the next scan sees the deletion
                        return FileVisitResult.CONTINUE;
                    } catch (IOException e) {
                        s.refused.put(rel, "cannot be read: " + e);
                    }
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException e) {
                if (!(e instanceof NoSuchFileException)) {
                    s.refused.put(relative(root, file), "cannot be read: " + e);
                }
                return FileVisitResult.CONTINUE;
            }
        });
        return s;
    }

    static Stat stat(Path file) throws IOException {
        PosixFileAttributes a = Files.readAttributes(file, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        return new Stat(a.size(), micros(a), mode(a.permissions()));
    }

    private static long micros(PosixFileAttributes a) {
        return a.lastModifiedTime().to(java.util.concurrent.TimeUnit.MICROSECONDS);
    }

    static int mode(Set<PosixFilePermission> perms) {
        int m = 0;
        for (PosixFilePermission p : perms) {
            m |= 1 << (8 - p.ordinal()); // OWNER_READ is ordinal 0 = 0400 ... OTHERS_EXECUTE ordinal 8 = 0001
        }
        return m;
    }

    static Set<PosixFilePermission> permissions(int mode) {
        Set<PosixFilePermission> s = java.util.EnumSet.noneOf(PosixFilePermission.class);
        for (PosixFilePermission p : PosixFilePermission.values()) {
            if ((mode & (1 << (8 - p.ordinal()))) != 0) {
                s.add(p);
            }
        }
        return s;
    }

    static String relative(Path root, Path p) {
        return root.relativize(p).toString().replace(p.getFileSystem().getSeparator(), "/");
    }

    static List<PathMatcher> matchers(List<String> patterns) {
        List<PathMatcher> m = new ArrayList<>();
        for (String p : patterns) {
            m.add(FileSystems.getDefault().getPathMatcher("glob:" + p));
        }
        return m;
    }

    /** A pattern matches the relative path or the name alone ({@code *.log} ignores logs anywhere). */
    static boolean ignored(List<PathMatcher> ignore, String rel) {
        Path p = Path.of(rel);
        Path name = p.getFileName();
        for (PathMatcher m : ignore) {
            if (m.matches(p) || m.matches(name)) {
                return true;
            }
        }
        return false;
    }
}
