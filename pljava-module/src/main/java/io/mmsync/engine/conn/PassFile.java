package io.mmsync.engine.conn;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;

/**
 * Looks a password up in a libpq passfile: the {@code passfile} keyword, else {@code PGPASSFILE},
 * else {@code ~/.pgpass}. Lines are {@code host:port:database:user:password}, {@code *} matches
 * anything, {@code \:} and {@code \\} escape. As libpq does, a file readable by group or others
 * is ignored with a warning.
 */
final class PassFile {
    private static final Logger LOG = Logger.getLogger(PassFile.class.getName());

    private PassFile() {
    }

    static String lookup(String passfile, String host, int port, String db, String user) {
        Path file = resolve(passfile);
        if (file == null || !Files.isRegularFile(file)) {
            return null;
        }
        try {
            if (!permissionsOk(file)) {
                LOG.warning("mmsync: password file " + file + " has group or world access; permissions should be u=rw (0600) or less");
                return null;
            }
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                List<String> f = split(line);
                if (f.size() >= 5 && matches(f.get(0), host) && matches(f.get(1), Integer.toString(port))
                        && matches(f.get(2), db) && matches(f.get(3), user)) {
                    return f.get(4);
                }
            }
        } catch (IOException e) {
            LOG.warning("mmsync: cannot read password file " + file + ": " + e.getMessage());
        }
        return null;
    }

    private static Path resolve(String passfile) {
        if (passfile != null && !passfile.isEmpty()) {
            return Path.of(passfile);
        }
        String env = System.getenv("PGPASSFILE");
        if (env != null && !env.isEmpty()) {
            return Path.of(env);
        }
        String home = System.getProperty("user.home");
        return home == null ? null : Path.of(home, ".pgpass");
    }

    private static boolean permissionsOk(Path file) throws IOException {
        try {
            var perms = Files.getPosixFilePermissions(file);
            return perms.stream().noneMatch(p -> p.name().startsWith("GROUP") || p.name().startsWith("OTHERS"));
        } catch (UnsupportedOperationException e) {
            return true;
        }
    }

    private static boolean matches(String pattern, String value) {
        return pattern.equals("*") || pattern.equals(value);
    }

    static List<String> split(String line) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c == '\\' && i + 1 < line.length()) {
                cur.append(line.charAt(++i));
            } else if (c == ':' && out.size() < 4) {
                out.add(cur.toString());
                cur.setLength(0);
            } else {
                cur.append(c);
            }
        }
        out.add(cur.toString());
        return out;
    }
}
