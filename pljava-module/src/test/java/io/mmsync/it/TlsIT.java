package io.mmsync.it;

import io.mmsync.testenv.Cmd;
import io.mmsync.testenv.PgCluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The peer reached over TLS with sslmode=verify-full, against a certificate authority the test
 * makes with the openssl command: a certificate from an unknown CA, or for another host name, is
 * refused (status says so, the changes wait), the right CA lets them through, encrypted.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class TlsIT {
    static final String SCHEMA = "CREATE TABLE items (id int PRIMARY KEY, v text)";

    @Test
    void verifyFullRefusesAWrongCaAndAWrongHostAndSyncsWithTheRightOne() throws Exception {
        Path dir = Files.createTempDirectory("mmsync-tls-");
        try {
            makeCertificates(dir);
            PgCluster.Builder green = PgCluster.builder("green").setting("ssl", "on")
                    .setting("ssl_cert_file", dir.resolve("server.crt").toString())
                    .setting("ssl_key_file", dir.resolve("server.key").toString());
            try (Pair pair = Pair.start(SCHEMA, green, true)) {
                register(pair, "localhost", dir.resolve("other-ca.crt"));
                pair.addSync("");
                pair.startAgents();
                pair.blue.execute(Pair.DB, "INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 20) g");
                Waits.until(Duration.ofSeconds(30), "status reports the untrusted certificate",
                        () -> String.valueOf(Pair.lastError(pair.blue, "green")).contains("SSL"));
                String err = Pair.lastError(pair.blue, "green");
                assertTrue(err.startsWith("green: ") && err.contains("PKIX path building failed"), err);
                assertEquals(20, pair.blue.queryLong(Pair.DB, "SELECT backlog FROM mmsync.status()"), "changes wait");

                // the right CA, but an address the certificate is not for: still refused under verify-full
                register(pair, "127.0.0.1", dir.resolve("ca.crt"));
                Waits.until(Duration.ofSeconds(30), "status reports the wrong host name",
                        () -> String.valueOf(Pair.lastError(pair.blue, "green")).contains("127.0.0.1"));
                assertTrue(Pair.lastError(pair.blue, "green").startsWith("green: "), Pair.lastError(pair.blue, "green"));

                // add_node with the fixed conninfo: the running agent reconnects with it
                register(pair, "localhost", dir.resolve("ca.crt"));
                pair.awaitSyncOnGreen();
                pair.awaitSynced();
                assertEquals(Pair.fingerprint(pair.blue, "items"), Pair.fingerprint(pair.green, "items"));
                assertEquals("true", pair.green.queryString(Pair.DB, "SELECT bool_and(s.ssl)::text FROM pg_stat_ssl s "
                        + "JOIN pg_stat_activity a USING (pid) WHERE a.application_name LIKE 'mmsync applier%'"),
                        "blue's applier connection to green is encrypted");
            }
        } finally {
            Cmd.runAllowFailure(List.of("rm", "-rf", dir.toString()), Path.of("/"), Duration.ofSeconds(30));
        }
    }

    private static void register(Pair pair, String host, Path rootCert) {
        pair.blue.execute(Pair.DB, "SELECT mmsync.add_node('green', 'host=" + host + " port=" + pair.green.port()
                + " dbname=" + Pair.DB + " user=postgres sslmode=verify-full sslrootcert=" + rootCert + "')");
    }

    /**
     * A CA, a server certificate it signs for localhost (only), and an unrelated CA. The
     * server's files belong to the postgres OS user (the server refuses a key others can read).
     */
    private static void makeCertificates(Path dir) throws Exception {
        Duration t = Duration.ofSeconds(60);
        for (String ca : List.of("ca", "other-ca")) {
            Cmd.run(List.of("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", ca + ".key", "-out", ca + ".crt", "-subj", "/CN=mmsync test " + ca), dir, t);
        }
        Cmd.run(List.of("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
                "-subj", "/CN=localhost"), dir, t);
        Files.writeString(dir.resolve("san.ext"), "subjectAltName = DNS:localhost\n");
        Cmd.run(List.of("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", "server.crt", "-extfile", "san.ext"), dir, t);
        Files.setPosixFilePermissions(dir.resolve("server.key"), PosixFilePermissions.fromString("rw-------"));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        if ("root".equals(System.getProperty("user.name"))) {
            UserPrincipal postgres = dir.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("postgres");
            for (String f : List.of("server.key", "server.crt")) {
                Files.setOwner(dir.resolve(f), postgres);
            }
        }
    }
}
