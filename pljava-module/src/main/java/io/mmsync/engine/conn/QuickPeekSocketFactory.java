package io.mmsync.engine.conn;

import javax.net.SocketFactory;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;

/**
 * Issue 15: the sockets of a listening connection ({@link Connector#openListening}), on which a
 * NOTIFY is taken without the millisecond pgJDBC would add to it. After a notification, pgJDBC's
 * {@code getNotifications(timeout)} asks whether another message is pending by reading with a
 * socket timeout of 1 ms (PGStream.hasMessagePending, 42.7.x: its once-a-second throttle is never
 * armed when the read times out), so every wake-up by a NOTIFY came a whole millisecond late, on
 * the path of a commit's lag. Here a read under a 1 ms timeout with nothing received yet times out
 * at once: no message is pending. Any other read is the plain socket's. A 1 ms wait for
 * notifications therefore returns at once too, so callers wait at least 2 ms (see Wakeup).
 * pgJDBC makes the factory from its class name (connection property {@code socketFactory}).
 */
public final class QuickPeekSocketFactory extends SocketFactory {
    /** The socket timeout pgJDBC's peek reads with, in milliseconds. */
    static final int PEEK_MS = 1;

    public QuickPeekSocketFactory() {
        // made by pgJDBC from the class name
    }

    @Override
    public Socket createSocket() {
        return new PeekSocket();
    }

    @Override
    public Socket createSocket(String host, int port) throws IOException {
        Socket s = new PeekSocket();
        s.connect(new InetSocketAddress(host, port));
        return s;
    }

    @Override
    public Socket createSocket(String host, int port, InetAddress localHost, int localPort) throws IOException {
        Socket s = new PeekSocket();
        s.bind(new InetSocketAddress(localHost, localPort));
        s.connect(new InetSocketAddress(host, port));
        return s;
    }

    @Override
    public Socket createSocket(InetAddress host, int port) throws IOException {
        Socket s = new PeekSocket();
        s.connect(new InetSocketAddress(host, port));
        return s;
    }

    @Override
    public Socket createSocket(InetAddress address, int port, InetAddress localAddress, int localPort) throws IOException {
        Socket s = new PeekSocket();
        s.bind(new InetSocketAddress(localAddress, localPort));
        s.connect(new InetSocketAddress(address, port));
        return s;
    }

    /** A plain socket whose reads under the peek's timeout do not wait for data not received yet. */
    static final class PeekSocket extends Socket {
        private volatile int timeout;
        private InputStream in;

        @Override
        public synchronized void setSoTimeout(int ms) throws java.net.SocketException {
            super.setSoTimeout(ms);
            timeout = ms;
        }

        @Override
        public synchronized InputStream getInputStream() throws IOException {
            if (in == null) {
                InputStream plain = super.getInputStream();
                in = new FilterInputStream(plain) {
                    @Override
                    public int read() throws IOException {
                        peekGuard();
                        return super.read();
                    }

                    @Override
                    public int read(byte[] b, int off, int len) throws IOException {
                        peekGuard();
                        return super.read(b, off, len);
                    }

                    private void peekGuard() throws IOException {
                        if (timeout == PEEK_MS && plain.available() == 0) {
                            throw new SocketTimeoutException("mmsync: nothing received (a peek under a " + PEEK_MS + " ms timeout)");
                        }
                    }
                };
            }
            return in;
        }
    }
}
