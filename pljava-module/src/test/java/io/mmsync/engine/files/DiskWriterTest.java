package io.mmsync.engine.files;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Writing a peer's file (issue 16), in a real temporary directory: atomic write, mode and time kept, nothing outside the root. */
class DiskWriterTest {
    @TempDir
    Path tmp;

    private static FileEntry entry(String path, Path content, int mode, long mtimeUs) throws IOException {
        String hash = Chunker.hex(Chunker.sha256().digest(Files.readAllBytes(content)));
        return new FileEntry(path, hash, List.of(), Files.size(content), mode, mtimeUs, false, "blue", Instant.EPOCH, null, 1);
    }

    @Test
    void writesWithModeAndTimeAndLeavesNoTemporaryFile() throws Exception {
        Path root = Files.createDirectories(tmp.resolve("root"));
        Path src = Files.writeString(tmp.resolve("src"), "#!/bin/sh\necho hi\n");
        DiskWriter w = new DiskWriter(root, null);
        w.write(root.resolve("a/b/run.sh"), entry("a/b/run.sh", src, 0755, 1_700_000_000_123_456L), src, null);
        Path out = root.resolve("a/b/run.sh");
        assertEquals("#!/bin/sh\necho hi\n", Files.readString(out));
        assertEquals("rwxr-xr-x", PosixFilePermissions.toString(Files.getPosixFilePermissions(out)));
        assertEquals(1_700_000_000_123_456L, DiskScan.stat(out).mtimeUs());
        try (var s = Files.list(root.resolve("a/b"))) {
            assertEquals(List.of("run.sh"), s.map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test
    void refusesContentThatDoesNotMatchItsHash() throws Exception {
        Path root = Files.createDirectories(tmp.resolve("root"));
        Path src = Files.writeString(tmp.resolve("src"), "one");
        FileEntry e = entry("x.txt", src, 0644, 0);
        Files.writeString(src, "two"); // the local copy changed since
        IOException err = assertThrows(IOException.class, () -> new DiskWriter(root, null).write(root.resolve("x.txt"), e, src, null));
        assertTrue(err.getMessage().contains("x.txt"), err.getMessage());
        assertFalse(Files.exists(root.resolve("x.txt")), "nothing half-right left behind");
    }

    @Test
    void neverWritesThroughASymlinkOutOfTheRoot() throws Exception {
        Path root = Files.createDirectories(tmp.resolve("root"));
        Path outside = Files.createDirectories(tmp.resolve("outside"));
        Files.createSymbolicLink(root.resolve("evil"), outside);
        Path src = Files.writeString(tmp.resolve("src"), "x");
        IOException err = assertThrows(IOException.class,
                () -> new DiskWriter(root, null).write(root.resolve("evil/x"), entry("evil/x", src, 0644, 0), src, null));
        assertTrue(err.getMessage().contains("symbolic link"), err.getMessage());
        try (var s = Files.list(outside)) {
            assertEquals(0, s.count(), "nothing written outside the root");
        }
    }

    @Test
    void pathsFromAPeerMustBePlainRelativePaths() {
        assertTrue(DiskWriter.safePath("com.example/server/dist/plugin"));
        assertTrue(DiskWriter.safePath(".hidden/file"));
        for (String bad : new String[] {"", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", "a\0b"}) {
            assertFalse(DiskWriter.safePath(bad), bad);
        }
        assertTrue(DiskScan.isTemp("a/.mmsync-tmp-1/b"));
        assertFalse(DiskScan.isTemp("a/mmsync-tmp"));
    }

    @Test
    void leftoversOfAnInterruptedRunAreRemovedAndNothingElse() throws Exception {
        Path root = Files.createDirectories(tmp.resolve("root"));
        Files.writeString(Files.createDirectories(root.resolve("p/server")).resolve(".mmsync-tmp-1"), "half");
        Files.writeString(Files.createDirectories(root.resolve(".mmsync-stage-p-2/server")).resolve("bin"), "staged");
        Files.createDirectories(root.resolve(".mmsync-old-q-3"));
        Files.writeString(root.resolve("p/server/keep"), "keep");
        Files.writeString(root.resolve(".hidden"), "keep too");
        assertEquals(3, new DiskWriter(root, null).removeLeftovers());
        try (var s = Files.walk(root)) {
            assertEquals(List.of("", ".hidden", "p", "p/server", "p/server/keep"),
                    s.map(p -> root.relativize(p).toString()).sorted().toList());
        }
    }
}
