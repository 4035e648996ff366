package io.mmsync.engine.files;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.UserPrincipal;
import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * Writes a peer's files on this server so that they appear whole or not at all: each file is
 * written to a temporary name in its own directory, checked against its hash, fsynced, given its
 * mode, time and owner, and renamed over the old one; a new top-level directory (a plugin) is
 * built in a hidden staging directory and renamed into place when complete.
 */
final class DiskWriter {
    /** Thrown when the peer no longer has a chunk (its file changed again): the turn is retried. */
    static final class ChunkGone extends IOException {
        ChunkGone(String msg) {
            super(msg);
        }
    }

    private final Path root;
    private final UserPrincipal owner;

    DiskWriter(Path root, String owner) throws IOException {
        this.root = root;
        this.owner = owner == null ? null
                : root.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(owner);
    }

    /**
     * Deletes what an agent that stopped in the middle of writing left behind: temporary files,
     * staging directories and retired old versions (names starting with {@code .mmsync-}).
     * Returns how many were removed.
     */
    int removeLeftovers() throws IOException {
        List<Path> found = new java.util.ArrayList<>();
        Files.walkFileTree(root, new java.nio.file.SimpleFileVisitor<>() {
            @Override
            public java.nio.file.FileVisitResult preVisitDirectory(Path dir, java.nio.file.attribute.BasicFileAttributes a) {
                if (!dir.equals(root) && dir.getFileName().toString().startsWith(DiskScan.TEMP_PREFIX)) {
                    found.add(dir);
                    return java.nio.file.FileVisitResult.SKIP_SUBTREE;
                }
                return java.nio.file.FileVisitResult.CONTINUE;
            }

            @Override
            public java.nio.file.FileVisitResult visitFile(Path file, java.nio.file.attribute.BasicFileAttributes a) {
                if (file.getFileName().toString().startsWith(DiskScan.TEMP_PREFIX)) {
                    found.add(file);
                }
                return java.nio.file.FileVisitResult.CONTINUE;
            }
        });
        for (Path p : found) {
            if (Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                UnitWriter.deleteTree(p);
            } else {
                Files.deleteIfExists(p);
            }
        }
        return found.size();
    }

    /** A new hidden directory under the root to build a top-level directory in. */
    Path newStaging(String unit) throws IOException {
        Path s = root.resolve(DiskScan.TEMP_PREFIX + "stage-" + unit + "-" + UUID.randomUUID());
        Files.createDirectory(s);
        return s;
    }

    /** Moves a complete staged tree to {@code root/unit} in one rename. */
    void publish(Path staging, String unit) throws IOException {
        chown(staging);
        Files.move(staging, root.resolve(unit), StandardCopyOption.ATOMIC_MOVE);
        fsyncDir(root);
    }

    /** Hard-links an unchanged file into a tree being built (same file system: under the root). */
    void link(Path existing, Path into) throws IOException {
        createDirs(into.getParent());
        Files.createLink(into, existing);
    }

    /** Renames {@code root/unit} to a hidden name (it disappears in one step); returns where it went. */
    Path retire(String unit) throws IOException {
        Path old = root.resolve(DiskScan.TEMP_PREFIX + "old-" + unit + "-" + UUID.randomUUID());
        Files.move(root.resolve(unit), old, StandardCopyOption.ATOMIC_MOVE);
        return old;
    }

    /**
     * Writes {@code e} at {@code target}, its content copied from {@code localCopy} (a file here with
     * the same hash) when given, else read chunk by chunk from the peer.
     */
    void write(Path target, FileEntry e, Path localCopy, Connection peer) throws IOException, SQLException {
        Path dir = target.getParent();
        createDirs(dir);
        requireInside(dir, e.path());
        Path tmp = dir.resolve(DiskScan.TEMP_PREFIX + "tmp-" + UUID.randomUUID());
        try {
            MessageDigest md = Chunker.sha256();
            try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                if (localCopy != null) {
                    try (InputStream in = Files.newInputStream(localCopy)) {
                        byte[] buf = new byte[Chunker.CHUNK];
                        int n;
                        while ((n = in.read(buf)) > 0) {
                            md.update(buf, 0, n);
                            writeAll(out, buf, n);
                        }
                    }
                } else {
                    fetch(peer, e, out, md);
                }
                out.force(true);
            }
            String got = Chunker.hex(md.digest());
            if (!got.equals(e.hash())) {
                throw new IOException("mmsync: file " + e.path() + " came out with hash " + got + ", not " + e.hash()
                        + (localCopy != null ? " (copied from " + localCopy + ", which changed)" : ""));
            }
            Files.setPosixFilePermissions(tmp, DiskScan.permissions(e.mode()));
            if (owner != null) {
                Files.setOwner(tmp, owner);
            }
            Files.setLastModifiedTime(tmp, FileTime.from(e.mtimeUs(), TimeUnit.MICROSECONDS));
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            fsyncDir(dir);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static void fetch(Connection peer, FileEntry e, FileChannel out, MessageDigest md) throws SQLException, IOException {
        try (PreparedStatement st = peer.prepareStatement("SELECT data FROM mmsync.file_chunks WHERE hash = ?")) {
            for (String h : e.chunks()) {
                st.setString(1, h);
                byte[] data;
                try (ResultSet rs = st.executeQuery()) {
                    if (!rs.next()) {
                        throw new ChunkGone("chunk " + h + " of file " + e.path() + " is no longer on the peer (changed again there)");
                    }
                    data = rs.getBytes(1);
                }
                md.update(data);
                writeAll(out, data, data.length);
            }
        }
    }

    private static void writeAll(FileChannel out, byte[] b, int n) throws IOException {
        ByteBuffer bb = ByteBuffer.wrap(b, 0, n);
        while (bb.hasRemaining()) {
            out.write(bb);
        }
    }

    /** Renames this node's file to its conflict copy name (same directory: atomic). */
    void moveAside(Path file, Path copy) throws IOException {
        Files.move(file, copy, StandardCopyOption.ATOMIC_MOVE);
        fsyncDir(file.getParent());
    }

    /** Deletes a file, then the directories it leaves empty up to the root. */
    void delete(Path file) throws IOException {
        Files.deleteIfExists(file);
        Path dir = file.getParent();
        while (dir != null && dir.startsWith(root) && !dir.equals(root)) {
            try {
                Files.delete(dir);
            } catch (DirectoryNotEmptyException | NoSuchFileException e) {
                break;
            }
            dir = dir.getParent();
        }
    }

    /**
     * Refuses to write through a symlink: the directory a file goes into must really be under the
     * root (a local symlink inside the synced directory, which the scans refuse to sync, must not
     * let a peer's file land elsewhere).
     */
    private void requireInside(Path dir, String path) throws IOException {
        if (!dir.toRealPath().startsWith(root.toRealPath())) {
            throw new IOException("mmsync: not writing file " + path + ": its directory " + dir + " leads outside " + root
                    + " through a symbolic link; remove the link");
        }
    }

    /** Whether a path sent by a peer is a plain relative path under the root (no absolute path, no . or .. part). */
    static boolean safePath(String path) {
        if (path.isEmpty() || path.startsWith("/") || path.indexOf('\0') >= 0) {
            return false;
        }
        for (String part : path.split("/", -1)) {
            if (part.isEmpty() || part.equals(".") || part.equals("..")) {
                return false;
            }
        }
        return true;
    }

    private void createDirs(Path dir) throws IOException {
        if (Files.isDirectory(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        if (Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException("mmsync: cannot write under " + dir + ": it is a symbolic link or a file, not a directory"
                    + " (mmsync never writes through a symbolic link); remove it");
        }
        createDirs(dir.getParent());
        Files.createDirectory(dir);
        chown(dir);
    }

    private void chown(Path p) throws IOException {
        if (owner != null) {
            Files.setOwner(p, owner);
        }
    }

    private static void fsyncDir(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }
}
