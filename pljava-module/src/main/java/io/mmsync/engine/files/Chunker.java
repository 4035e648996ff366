package io.mmsync.engine.files;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Reads a file once, in chunks of {@link #CHUNK} bytes: hashes the whole file and each chunk
 * (SHA-256) and stores each chunk in {@code mmsync.file_chunks} on the way (one chunk in memory
 * at a time, whatever the file's size). Returns null when the file changed while it was read.
 */
final class Chunker {
    static final int CHUNK = 1 << 20;

    record Content(String hash, List<String> chunks, long size) {
    }

    private Chunker() {
    }

    static Content store(Connection c, Path file, DiskScan.Stat before) throws IOException, SQLException {
        MessageDigest whole = sha256();
        MessageDigest part = sha256();
        List<String> chunks = new ArrayList<>();
        byte[] buf = new byte[CHUNK];
        long size = 0;
        try (InputStream in = Files.newInputStream(file); PreparedStatement put = c.prepareStatement(FileStore.PUT_CHUNK)) {
            while (true) {
                int n = in.readNBytes(buf, 0, CHUNK);
                if (n == 0 && size > 0) {
                    break;
                }
                whole.update(buf, 0, n);
                part.update(buf, 0, n);
                String h = hex(part.digest());
                FileStore.putChunk(put, h, buf, n);
                chunks.add(h);
                size += n;
                if (n < CHUNK) {
                    break;
                }
            }
        }
        DiskScan.Stat after = DiskScan.stat(file);
        if (!after.equals(before) || size != before.size()) {
            return null;
        }
        return new Content(hex(whole.digest()), chunks, size);
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JVM has no SHA-256", e);
        }
    }

    static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }
}
