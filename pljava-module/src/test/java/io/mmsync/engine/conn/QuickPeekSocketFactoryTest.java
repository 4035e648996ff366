package io.mmsync.engine.conn;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The listening connection's sockets (issue 15): a read under pgJDBC's 1 ms peek timeout with
 * nothing received times out without waiting; what arrives later is read whole, in order, and a
 * read under any other timeout waits for data as a plain socket's does.
 */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class QuickPeekSocketFactoryTest {
    @Test
    void aPeekWithNothingReceivedTimesOutAndLaterBytesArriveWhole() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
             Socket client = new QuickPeekSocketFactory().createSocket(InetAddress.getLoopbackAddress(), server.getLocalPort());
             Socket peer = server.accept()) {
            InputStream in = client.getInputStream();
            OutputStream out = peer.getOutputStream();
            client.setSoTimeout(QuickPeekSocketFactory.PEEK_MS);
            // the guard's own timeout (a plain socket's would say "Read timed out" a millisecond later)
            SocketTimeoutException e = assertThrows(SocketTimeoutException.class, () -> in.read(new byte[16], 0, 16));
            assertTrue(e.getMessage().startsWith("mmsync: nothing received"), e.getMessage());
            assertThrows(SocketTimeoutException.class, in::read);

            byte[] sent = "notify: 1, then 2".getBytes(StandardCharsets.US_ASCII);
            out.write(sent);
            out.flush();
            // a plain read (no timeout) waits for the bytes, none lost to the peeks before
            client.setSoTimeout(0);
            byte[] got = in.readNBytes(sent.length);
            assertArrayEquals(sent, got);
            client.setSoTimeout(QuickPeekSocketFactory.PEEK_MS);
            assertThrows(SocketTimeoutException.class, in::read);

            // a longer timeout waits as a plain socket's
            client.setSoTimeout(10_000);
            out.write(7);
            out.flush();
            assertEquals(7, in.read());
        }
    }
}
