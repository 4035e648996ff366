package io.mmsync.health;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/** The last answers of one peer's watcher, newest first; thread-safe. */
final class PeerHistory {
    static final int CAPACITY = 64;

    private final String peer;
    private final ArrayDeque<PeerSample> samples = new ArrayDeque<>();

    PeerHistory(String peer) {
        this.peer = peer;
    }

    String peer() {
        return peer;
    }

    synchronized void add(PeerSample s) {
        samples.addFirst(s);
        while (samples.size() > CAPACITY) {
            samples.removeLast();
        }
    }

    /** The newest answer, or null before the first. */
    synchronized PeerSample latest() {
        return samples.peekFirst();
    }

    /** All kept answers, newest first. */
    synchronized List<PeerSample> newestFirst() {
        List<PeerSample> out = new ArrayList<>(samples.size());
        for (Iterator<PeerSample> it = samples.iterator(); it.hasNext(); ) {
            out.add(it.next());
        }
        return out;
    }
}
