package io.mmsync.it;

import io.mmsync.testenv.PgCluster;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * Samples a node's {@code mmsync.status()} for one peer in the background (every 100 ms) and keeps
 * the sequence of states it saw, each with its first backlog and the seconds since the trail
 * started: what an operator watching status during a fault would have seen.
 */
final class StatusTrail implements AutoCloseable {
    private final PgCluster node;
    private final String peer;
    private final long start = System.nanoTime();
    private final List<String> states = new ArrayList<>();
    private final List<String> shown = new ArrayList<>();
    private final Thread thread;
    private volatile boolean stopped;

    StatusTrail(PgCluster node, String peer) {
        this.node = node;
        this.peer = peer;
        this.thread = new Thread(this::sample, "status-trail-" + node.name());
        thread.setDaemon(true);
        thread.start();
    }

    private void sample() {
        while (!stopped) {
            String s;
            try {
                s = node.queryString(Pair.DB, "SELECT state || '|' || backlog FROM mmsync.status() WHERE peer = '" + peer + "'");
            } catch (RuntimeException e) {
                s = "(server not answering)|?";
            }
            record(s.substring(0, s.indexOf('|')), s.substring(s.indexOf('|') + 1));
            LockSupport.parkNanos(100_000_000L);
        }
    }

    private synchronized void record(String state, String backlog) {
        if (states.isEmpty() || !states.get(states.size() - 1).equals(state)) {
            states.add(state);
            shown.add(String.format("%s (backlog %s, t=%.1fs)", state, backlog, (System.nanoTime() - start) / 1e9));
        }
    }

    /** True if the trail contains {@code wanted} in this order (other states may come between). */
    synchronized boolean sawInOrder(String... wanted) {
        int i = 0;
        for (String s : states) {
            if (i < wanted.length && s.equals(wanted[i])) {
                i++;
            }
        }
        return i == wanted.length;
    }

    /** The latest state seen, or null before the first sample. */
    synchronized String last() {
        return states.isEmpty() ? null : states.get(states.size() - 1);
    }

    @Override
    public synchronized String toString() {
        return node.name() + "->" + peer + ": " + String.join(" -> ", shown);
    }

    @Override
    public void close() {
        stopped = true;
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
