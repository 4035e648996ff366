package io.mmsync.engine;



/** The engine's version, from the jar manifest or the build. */
public final class Version {
    private Version() {
    }

    public static String get() {
        String v = Version.class.getPackage().getImplementationVersion();
        return v != null ? v : "0.2.0";
    }
}
