package io.mmsync.health;

import java.util.Map;

/**
 * The query parameters of /ready and /writer: {@code lag=} (see {@link Lag}), {@code peer=required}
 * (a peer that cannot be asked makes the node not ready) and, for /writer, {@code backup=<node>}:
 * the node HAProxy has as its backup server (installer/haproxy-cfg puts it in the check URI).
 */
record Ask(Lag lag, boolean peerRequired, String backup) {
    private static final String NODE_NAME = "[a-z][a-z0-9_]{0,62}";

    /** Parses the query; throws IllegalArgumentException naming the bad parameter and value. */
    static Ask parse(Map<String, String> query, Lag defaultLag) {
        Lag lag = query.containsKey("lag") ? Lag.parse(query.get("lag")) : defaultLag;
        String peer = query.getOrDefault("peer", "optional");
        if (!peer.equals("optional") && !peer.equals("required")) {
            throw new IllegalArgumentException("bad peer \"" + peer + "\": use peer=required or peer=optional");
        }
        String backup = query.get("backup");
        if (backup != null && !backup.matches(NODE_NAME)) {
            throw new IllegalArgumentException("bad backup \"" + backup + "\": name the node HAProxy has as backup server");
        }
        return new Ask(lag, peer.equals("required"), backup);
    }

    static Ask of(Lag lag) {
        return new Ask(lag, false, null);
    }

    /** The canonical query, for logs: {@code lag=1s&peer=required&backup=green}. */
    String query() {
        return "lag=" + lag + (peerRequired ? "&peer=required" : "") + (backup == null ? "" : "&backup=" + backup);
    }
}
