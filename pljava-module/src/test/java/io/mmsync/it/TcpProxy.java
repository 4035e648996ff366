package io.mmsync.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A TCP proxy on a free 127.0.0.1 port in front of one server, which a test can cut and restore:
 * the network between two nodes on one machine. Register a peer's conninfo with {@link #port()}
 * instead of the server's port.
 * <ul>
 * <li>{@link Cut#REFUSE}: every connection is reset and the port is closed, so new connections are
 * refused at once (a host that went down, a firewall that rejects).</li>
 * <li>{@link Cut#BLACKHOLE}: connections stay open but nothing gets through in either direction,
 * and new connections are accepted and then never answered (a cable pulled, a firewall that drops).
 * Neither end learns anything from the proxy: a client only notices through its own timeouts, and
 * the server side of a connection cut this way stays open and silent until the proxy is closed,
 * like a server backend that never hears that its client gave up.</li>
 * </ul>
 * {@link #restore()} lets new connections through again; connections that were blackholed are
 * reset on the client side (their lost bytes cannot be replayed) and stay silent on the server side.
 */
final class TcpProxy implements AutoCloseable {
    enum Cut { REFUSE, BLACKHOLE }

    private static final Logger LOG = Logger.getLogger(TcpProxy.class.getName());
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    private final String name;
    private final int targetPort;
    private final int port;
    private final Set<Pipe> pipes = ConcurrentHashMap.newKeySet();
    private final AtomicInteger accepted = new AtomicInteger();
    /** bytes passed on from clients to the server, over all connections */
    private final AtomicLong sent = new AtomicLong();
    private volatile ServerSocket listener;
    private volatile Cut cut;
    private volatile boolean closed;
    /** bytes per second each direction of each connection may carry (0: as fast as it goes) */
    private volatile long rate;

    private TcpProxy(String name, int targetPort) {
        this.name = name;
        this.targetPort = targetPort;
        this.listener = bind(0);
        this.port = listener.getLocalPort();
        startAccepting(listener);
    }

    /** A proxy to 127.0.0.1:{@code targetPort}; {@code name} appears in thread names and logs. */
    static TcpProxy to(String name, int targetPort) {
        return new TcpProxy(name, targetPort);
    }

    int port() {
        return port;
    }

    /** Connections accepted so far (a test can wait for the peer to come back through the proxy). */
    int accepted() {
        return accepted.get();
    }

    /**
     * Limits each direction of each connection to {@code bytesPerSecond} (0 lifts the limit): a
     * slow network, so that a test's cut falls in the middle of a transfer whatever the speed of
     * the ends.
     */
    void throttle(long bytesPerSecond) {
        rate = bytesPerSecond;
        LOG.info("proxy " + name + ": " + (bytesPerSecond > 0 ? "throttled to " + bytesPerSecond + " bytes/s" : "not throttled"));
    }

    /** Bytes passed on from the clients to the server so far (a test can cut after so much of a transfer). */
    long sentToServer() {
        return sent.get();
    }

    synchronized boolean isCut() {
        return cut != null;
    }

    /** Cuts the path as {@code how} says; a second cut while cut is refused. */
    synchronized void cut(Cut how) {
        if (cut != null) {
            throw new IllegalStateException("proxy " + name + " is already cut (" + cut + ")");
        }
        cut = how;
        LOG.info("proxy " + name + ": cut (" + how + ")");
        if (how == Cut.REFUSE) {
            closeQuietly(listener);
            pipes.forEach(p -> p.reset(true));
        } else {
            pipes.forEach(Pipe::blackhole);
        }
    }

    /** Lets connections through again (see the class comment for what happens to old ones). */
    synchronized void restore() {
        if (cut == null) {
            return;
        }
        if (cut == Cut.REFUSE) {
            listener = bind(port);
            startAccepting(listener);
        } else {
            pipes.stream().filter(p -> p.dead).forEach(p -> p.reset(false));
        }
        LOG.info("proxy " + name + ": restored after " + cut);
        cut = null;
    }

    @Override
    public synchronized void close() {
        closed = true;
        closeQuietly(listener);
        pipes.forEach(p -> p.reset(true));
    }

    private static ServerSocket bind(int port) {
        try {
            ServerSocket s = new ServerSocket();
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(LOOPBACK, port), 64);
            return s;
        } catch (IOException e) {
            throw new UncheckedIOException("proxy cannot listen on 127.0.0.1:" + port, e);
        }
    }

    private void startAccepting(ServerSocket s) {
        daemon("proxy-" + name + "-accept", () -> {
            while (!s.isClosed()) {
                Socket client;
                try {
                    client = s.accept();
                } catch (IOException e) {
                    return; // closed by cut(REFUSE) or close()
                }
                accepted.incrementAndGet();
                connect(client);
            }
        });
    }

    private synchronized void connect(Socket client) {
        if (closed) {
            closeQuietly(client);
            return;
        }
        Pipe p = new Pipe(client);
        pipes.add(p);
        if (cut != null) {
            p.dead = true; // accepted by the kernel, never answered
            p.pump(client, null, "up");
            return;
        }
        try {
            p.server = new Socket(LOOPBACK, targetPort);
            p.server.setTcpNoDelay(true);
            client.setTcpNoDelay(true);
        } catch (IOException e) {
            p.reset(true); // the server is down: the client sees a closed connection
            return;
        }
        p.pump(client, p.server, "up");
        p.pump(p.server, client, "down");
    }

    private static void daemon(String threadName, Runnable r) {
        Thread t = new Thread(r, threadName);
        t.setDaemon(true);
        t.start();
    }

    private static void closeQuietly(java.io.Closeable c) {
        if (c != null) {
            try {
                c.close();
            } catch (IOException e) {
                LOG.log(Level.FINE, "proxy close: " + e.getMessage());
            }
        }
    }

    /** One proxied connection: client socket, server socket, and whether it is blackholed. */
    private final class Pipe {
        final Socket client;
        volatile Socket server;
        volatile boolean dead;

        Pipe(Socket client) {
            this.client = client;
        }

        void blackhole() {
            dead = true;
        }

        /** Resets the client side; the server side too if {@code both}. */
        void reset(boolean both) {
            abort(client);
            if (both) {
                abort(server);
                pipes.remove(this);
            }
        }

        private void abort(Socket s) {
            if (s == null) {
                return;
            }
            try {
                s.setSoLinger(true, 0); // RST, not FIN: the far end learns at once
            } catch (SocketException e) {
                LOG.log(Level.FINE, "proxy linger: " + e.getMessage());
            }
            closeQuietly(s);
        }

        /** Under a throttle, small reads so that the pace is even; else the whole buffer. */
        private int chunk() {
            return rate > 0 ? 8 * 1024 : 64 * 1024;
        }

        /** Under a throttle, the time {@code n} bytes take at its rate. */
        private void pace(int n) throws IOException {
            long r = rate;
            if (r > 0) {
                try {
                    Thread.sleep(Math.max(1, n * 1000L / r));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("proxy pump interrupted", e);
                }
            }
        }

        /** Copies bytes from {@code from} to {@code to} until EOF; discards them while dead. */
        void pump(Socket from, Socket to, String dir) {
            daemon("proxy-" + name + "-" + dir, () -> {
                byte[] buf = new byte[64 * 1024];
                try (InputStream in = from.getInputStream()) {
                    OutputStream out = to == null ? null : to.getOutputStream();
                    int n;
                    while ((n = in.read(buf, 0, chunk())) >= 0) {
                        if (!dead && out != null) {
                            out.write(buf, 0, n);
                            out.flush();
                            if (to == server) {
                                sent.addAndGet(n);
                            }
                            pace(n);
                        }
                    }
                    if (!dead) {
                        reset(true); // an orderly close goes through while the path is up
                    }
                } catch (IOException e) {
                    if (!dead) {
                        reset(true);
                    }
                }
            });
        }
    }
}
