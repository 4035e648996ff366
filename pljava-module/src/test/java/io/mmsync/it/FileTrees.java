package io.mmsync.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/** Directory trees for the file sync tests: building them, and what is in them (hash and mode per file). */
final class FileTrees {
    private FileTrees() {
    }

    /** Every regular file under {@code root} (mmsync's own temporary names left out): path -> "sha256 mode". */
    static Map<String, String> listing(Path root) {
        Map<String, String> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.toList()) {
                String rel = root.relativize(p).toString();
                if (rel.isEmpty() || rel.contains(".mmsync-") || !Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    continue;
                }
                try {
                    m.put(rel, sha256(p) + " " + PosixFilePermissions.toString(Files.getPosixFilePermissions(p)));
                } catch (IOException gone) {
                    continue; // deleted while listed
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return m;
    }

    static String sha256(Path p) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        try (InputStream in = Files.newInputStream(p)) {
            byte[] b = new byte[1 << 16];
            int n;
            while ((n = in.read(b)) > 0) {
                md.update(b, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** A file of {@code mb} MiB of pseudo-random bytes (incompressible, as a plugin's binaries are). */
    static void random(Path p, long mb, long seed) throws IOException {
        Files.createDirectories(p.getParent());
        Random r = new Random(seed);
        byte[] b = new byte[1 << 20];
        try (OutputStream out = Files.newOutputStream(p)) {
            for (long i = 0; i < mb; i++) {
                r.nextBytes(b);
                out.write(b);
            }
        }
    }

    static void text(Path p, String content, String perms) throws IOException {
        Files.createDirectories(p.getParent());
        Files.writeString(p, content);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(perms));
    }

    /** A Mattermost-like plugin: nested folders, a big server binary (executable), a webapp bundle, a manifest. */
    static void plugin(Path dir, String id, long binaryMb) throws IOException {
        text(dir.resolve("plugin.json"), "{\"id\": \"" + id + "\", \"version\": \"1.0.0\"}\n", "rw-r--r--");
        random(dir.resolve("server/dist/plugin-linux-amd64"), binaryMb, id.hashCode());
        Files.setPosixFilePermissions(dir.resolve("server/dist/plugin-linux-amd64"), PosixFilePermissions.fromString("rwxr-xr-x"));
        text(dir.resolve("webapp/dist/main.js"), "console.log('" + id + "');\n".repeat(2000), "rw-r--r--");
        text(dir.resolve("assets/icons/deep/nested/icon.svg"), "<svg/>\n", "rw-r-----");
        text(dir.resolve("assets/secret.key"), "k\n", "rw-------");
    }

    /** A .tar.gz of {@code dir} (the bundle Mattermost keeps in its file store) at {@code out}. */
    static void tarGz(Path dir, Path out) throws IOException, InterruptedException {
        Files.createDirectories(out.getParent());
        Process p = new ProcessBuilder(List.of("tar", "czf", out.toString(), "-C", dir.getParent().toString(), dir.getFileName().toString()))
                .redirectErrorStream(true).start();
        String o = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) {
            throw new IOException("tar failed: " + o);
        }
    }

    /**
     * Watches a directory the way a server loading plugins would, until stopped: every regular file
     * it sees must already have its final content (hash of {@code expected}), and a plugin directory
     * (top-level directory named in {@code wholeUnits}) once seen must hold all its files.
     */
    static final class HalfWrittenWatch implements Runnable {
        final Path root;
        final Map<String, String> expected;
        final List<String> wholeUnits;
        final Map<String, String> violations = new ConcurrentHashMap<>();
        volatile boolean stop;
        volatile int checks;

        HalfWrittenWatch(Path root, Map<String, String> expected, List<String> wholeUnits) {
            this.root = root;
            this.expected = expected;
            this.wholeUnits = wholeUnits;
        }

        @Override
        public void run() {
            while (!stop) {
                List<String> visible = wholeUnits.stream().filter(u -> Files.isDirectory(root.resolve(u))).toList();
                Map<String, String> seen = listing(root);
                seen.forEach((path, hm) -> {
                    String want = expected.get(path);
                    if (want != null && !want.split(" ")[0].equals(hm.split(" ")[0])) {
                        violations.put(path, "seen with hash " + hm + " instead of " + want);
                    }
                });
                for (String u : visible) {
                    {
                        expected.keySet().stream().filter(k -> k.startsWith(u + "/") && !seen.containsKey(k))
                                .forEach(k -> violations.put(k, "missing while its plugin directory " + u + " was visible"));
                    }
                }
                checks++;
            }
        }
    }

    /**
     * Looks at one directory of a tree until stopped and keeps every distinct listing it saw (an
     * absent directory is an empty listing). A look during which the directory was replaced (its
     * inode changed) is not counted: the walk itself may have crossed the two versions.
     */
    static final class UnitWatch implements Runnable {
        final Path dir;
        final java.util.Set<Map<String, String>> seen = ConcurrentHashMap.newKeySet();
        volatile boolean stop;
        volatile int looks;

        UnitWatch(Path dir) {
            this.dir = dir;
        }

        @Override
        public void run() {
            while (!stop) {
                Object before = key(dir);
                Map<String, String> l = before == null ? Map.of() : listing(dir);
                if (java.util.Objects.equals(before, key(dir))) {
                    seen.add(l);
                    looks++;
                }
            }
        }

        private static Object key(Path p) {
            try {
                return Files.readAttributes(p, java.nio.file.attribute.BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
            } catch (IOException e) {
                return null;
            }
        }
    }
}
