package io.mmsync.engine.conn;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

/**
 * A libpq connection string ({@code host=... port=... dbname=...}) or URI
 * ({@code postgresql://user@host:port/db?sslmode=...}), parsed into keywords and turned into a
 * pgJDBC URL and properties. Passwords come from a passfile (libpq's rules), never from the
 * string stored in {@code mmsync.nodes}. {@link #toString()} never shows a password.
 */
public final class ConnInfo {
    /** See {@link #readTimeoutSeconds()}. */
    public static final int DEFAULT_READ_TIMEOUT_SECONDS = 20;
    /** Floor of the server-side idle-in-transaction timeout, against client pauses (GC). */
    static final int MIN_IDLE_IN_TRANSACTION_SECONDS = 5;

    private final Map<String, String> params;

    private ConnInfo(Map<String, String> params) {
        this.params = Collections.unmodifiableMap(params);
    }

    public static ConnInfo parse(String conninfo) {
        if (conninfo == null || conninfo.isBlank()) {
            throw new IllegalArgumentException("empty conninfo");
        }
        String s = conninfo.trim();
        return new ConnInfo(s.matches("(?i)^postgres(ql)?://.*") ? parseUri(s) : parseKeywords(s));
    }

    private static Map<String, String> parseKeywords(String s) {
        Map<String, String> m = new LinkedHashMap<>();
        int i = 0;
        int n = s.length();
        while (true) {
            while (i < n && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
            if (i >= n) {
                return m;
            }
            int eq = s.indexOf('=', i);
            if (eq < 0) {
                throw new IllegalArgumentException("malformed conninfo: missing \"=\" after \"" + s.substring(i) + "\"");
            }
            String key = s.substring(i, eq).trim().toLowerCase();
            if (!key.matches("[a-z_]+")) {
                throw new IllegalArgumentException("malformed conninfo: bad keyword \"" + key + "\"");
            }
            i = eq + 1;
            while (i < n && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
            StringBuilder v = new StringBuilder();
            if (i < n && s.charAt(i) == '\'') {
                i++;
                while (i < n && s.charAt(i) != '\'') {
                    if (s.charAt(i) == '\\' && i + 1 < n) {
                        i++;
                    }
                    v.append(s.charAt(i++));
                }
                if (i >= n) {
                    throw new IllegalArgumentException("malformed conninfo: unterminated quoted value for " + key);
                }
                i++;
            } else {
                while (i < n && !Character.isWhitespace(s.charAt(i))) {
                    if (s.charAt(i) == '\\' && i + 1 < n) {
                        i++;
                    }
                    v.append(s.charAt(i++));
                }
            }
            m.put(key, v.toString());
        }
    }

    private static Map<String, String> parseUri(String s) {
        Map<String, String> m = new LinkedHashMap<>();
        String rest = s.substring(s.indexOf("://") + 3);
        int q = rest.indexOf('?');
        String query = q >= 0 ? rest.substring(q + 1) : "";
        rest = q >= 0 ? rest.substring(0, q) : rest;
        int slash = rest.indexOf('/');
        String authority = slash >= 0 ? rest.substring(0, slash) : rest;
        if (slash >= 0 && slash + 1 < rest.length()) {
            m.put("dbname", decode(rest.substring(slash + 1)));
        }
        int at = authority.lastIndexOf('@');
        if (at >= 0) {
            String userinfo = authority.substring(0, at);
            int colon = userinfo.indexOf(':');
            m.put("user", decode(colon >= 0 ? userinfo.substring(0, colon) : userinfo));
            if (colon >= 0) {
                m.put("password", decode(userinfo.substring(colon + 1)));
            }
            authority = authority.substring(at + 1);
        }
        int colon = authority.lastIndexOf(':');
        if (colon >= 0 && !authority.endsWith("]")) {
            m.put("port", authority.substring(colon + 1));
            authority = authority.substring(0, colon);
        }
        if (!authority.isEmpty()) {
            m.put("host", decode(authority));
        }
        for (String kv : query.split("&")) {
            int eq = kv.indexOf('=');
            if (eq > 0) {
                m.put(decode(kv.substring(0, eq)).toLowerCase(), decode(kv.substring(eq + 1)));
            }
        }
        return m;
    }

    private static String decode(String s) {
        return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
    }

    /**
     * How long the engine waits for any answer from this server before it drops the connection
     * and reconnects (pgJDBC's socketTimeout), in seconds. A peer behind a dead network path never
     * answers and never closes the connection: without this bound a link would wait in a socket
     * read forever (TCP keepalive does not help while a request is outstanding, and the kernel's
     * retransmission timeout is about 15 minutes). Every request of a link is bounded (a batch is at
     * most 5,000 rows / 16 MB), so no healthy server stays silent this long; a batch that waits
     * longer on a row lock is rolled back and retried, which is safe (the position commits with
     * the rows). Waits for notifications set their own timeout and are not affected.
     * <p>
     * libpq's {@code tcp_user_timeout} keyword (milliseconds; pgJDBC cannot set the TCP option) sets
     * it per node; 0 or absent means {@value #DEFAULT_READ_TIMEOUT_SECONDS} s, which keeps a stuck link
     * from looking like a dead agent in status (no heartbeat for 30 s).
     */
    public int readTimeoutSeconds() {
        String v = params.get("tcp_user_timeout");
        if (v == null || v.isBlank()) {
            return DEFAULT_READ_TIMEOUT_SECONDS;
        }
        long ms;
        try {
            ms = Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("malformed conninfo: tcp_user_timeout \"" + v + "\" is not a number of milliseconds", e);
        }
        if (ms < 0) {
            throw new IllegalArgumentException("malformed conninfo: tcp_user_timeout must not be negative, not " + ms);
        }
        return ms == 0 ? DEFAULT_READ_TIMEOUT_SECONDS : (int) Math.min(3600, Math.max(1, (ms + 999) / 1000));
    }

    public String get(String key) {
        return params.get(key);
    }

    public String host() {
        String h = params.getOrDefault("host", params.getOrDefault("hostaddr", "localhost"));
        int comma = h.indexOf(',');
        return comma >= 0 ? h.substring(0, comma) : h;
    }

    public int port() {
        String p = params.getOrDefault("port", "5432");
        int comma = p.indexOf(',');
        try {
            return Integer.parseInt(comma >= 0 ? p.substring(0, comma) : p);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("malformed conninfo: port \"" + p + "\" is not a number", e);
        }
    }

    public String user() {
        return params.getOrDefault("user", System.getProperty("user.name"));
    }

    public String dbname() {
        return params.getOrDefault("dbname", user());
    }

    /** The pgJDBC URL (no credentials in it). */
    public String jdbcUrl() {
        String h = host();
        if (h.startsWith("/")) {
            throw new IllegalArgumentException("unix-domain sockets are not supported; use host=127.0.0.1");
        }
        if (h.contains(":") && !h.startsWith("[")) {
            h = "[" + h + "]";
        }
        return "jdbc:postgresql://" + h + ":" + port() + "/" + java.net.URLEncoder.encode(dbname(), StandardCharsets.UTF_8);
    }

    /** pgJDBC properties, the password looked up in the passfile when the string has none. */
    public Properties jdbcProperties(String applicationName) {
        Properties p = new Properties();
        p.setProperty("user", user());
        String password = params.get("password");
        if (password == null) {
            password = PassFile.lookup(params.get("passfile"), host(), port(), dbname(), user());
        }
        if (password != null) {
            p.setProperty("password", password);
        }
        copy(p, "sslmode", "sslmode");
        copy(p, "sslrootcert", "sslrootcert");
        copy(p, "sslcert", "sslcert");
        copy(p, "sslkey", "sslkey");
        copy(p, "sslpassword", "sslpassword");
        copy(p, "channel_binding", "channelBinding");
        copy(p, "target_session_attrs", "targetServerType");
        p.setProperty("connectTimeout", params.getOrDefault("connect_timeout", "10"));
        p.setProperty("ApplicationName", params.getOrDefault("application_name", applicationName));
        p.setProperty("tcpKeepAlive", "true");
        int readTimeout = readTimeoutSeconds();
        p.setProperty("socketTimeout", Integer.toString(readTimeout));
        // A transaction of ours that hears nothing from us for as long as we would wait for the
        // server has been abandoned (its connection is gone): the server ends it, so that its row
        // locks do not block the retry of the same batch (see readTimeoutSeconds()). And the server
        // probes an idle connection of ours after 30 s, so that a session whose network path died
        // ends after about a minute instead of two hours (the kernel default), and repeated cuts
        // cannot pile up dead sessions until max_connections is reached.
        String options = params.getOrDefault("options", "");
        p.setProperty("options", (options + " -c idle_in_transaction_session_timeout="
                + Math.max(MIN_IDLE_IN_TRANSACTION_SECONDS, readTimeout) * 1000L
                + " -c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3").trim());
        if (!params.containsKey("sslmode")) {
            p.setProperty("sslmode", "prefer");
        }
        return p;
    }

    private void copy(Properties p, String from, String to) {
        String v = params.get(from);
        if (v != null) {
            p.setProperty(to, v);
        }
    }

    /** host:port/dbname as user, for logs and error messages; never the password. */
    @Override
    public String toString() {
        return user() + "@" + host() + ":" + port() + "/" + dbname();
    }
}
