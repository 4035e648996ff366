package io.mmsync.engine.model;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ExtensionVersionTest {
    @Test
    void ordersNumericallyPartByPart() {
        assertTrue(ExtensionVersion.of("0.1.0").compareTo(ExtensionVersion.of("0.2.0")) < 0);
        assertTrue(ExtensionVersion.of("0.10.0").compareTo(ExtensionVersion.of("0.9.3")) > 0);
        assertEquals(ExtensionVersion.of("1.0"), ExtensionVersion.of("1.0.0"));
        assertEquals(ExtensionVersion.of("1.0").hashCode(), ExtensionVersion.of("1.0.0").hashCode());
        assertTrue(ExtensionVersion.of("0.2.0-SNAPSHOT").compareTo(ExtensionVersion.of("0.2.0")) == 0);
    }

    /** The engine needs the extension version of its own build: sql/mmsync.control's default_version. */
    @Test
    void requiredIsTheControlFilesDefaultVersion() throws java.io.IOException {
        java.nio.file.Path control = java.nio.file.Path.of(System.getProperty("mmsync.root", ".."), "sql", "mmsync.control");
        String line = java.nio.file.Files.readAllLines(control).stream().filter(l -> l.startsWith("default_version"))
                .findFirst().orElseThrow();
        assertEquals(line.replaceAll(".*'(.*)'.*", "$1"), ExtensionVersion.required().toString(), control.toString());
    }
}
