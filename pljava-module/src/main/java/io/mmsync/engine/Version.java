package io.mmsync.engine;

import io.mmsync.engine.model.ExtensionVersion;

/** The engine's version, from the jar manifest or the build (the extension version it needs). */
public final class Version {
    private Version() {
    }

    public static String get() {
        return ExtensionVersion.required().toString();
    }
}
