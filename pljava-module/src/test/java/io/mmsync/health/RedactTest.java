package io.mmsync.health;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Credentials never leave the endpoint, whatever shape the text quoting them has. */
@Timeout(10)
class RedactTest {
    @Test
    void masksPasswordsInEveryShape() {
        assertEquals("host=a password=*** dbname=b", Redact.text("host=a password=s3cret dbname=b"));
        assertEquals("host=a password = *** dbname=b", Redact.text("host=a password = 's3 cret' dbname=b"));
        assertEquals("PASSWORD=***", Redact.text("PASSWORD=x"));
        assertEquals("sslpassword=*** x", Redact.text("sslpassword=k3y x"));
        assertEquals("postgresql://mm:***@db:5432/app", Redact.text("postgresql://mm:s3cret@db:5432/app"));
        assertEquals("jdbc:postgresql://db/app?user=mm&password=***", Redact.text("jdbc:postgresql://db/app?user=mm&password=s3cret"));
        assertEquals("postgresql://mm@db/app", Redact.text("postgresql://mm@db/app"));
        assertEquals("FATAL: password authentication failed for user \"mm\"",
                Redact.text("FATAL: password authentication failed for user \"mm\""));
    }
}
