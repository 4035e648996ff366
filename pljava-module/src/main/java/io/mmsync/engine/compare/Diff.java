package io.mmsync.engine.compare;

import io.mmsync.engine.model.TableRef;

import java.util.Objects;

/**
 * A key whose row differs between the two nodes: what each holds (jsonb text of the row, null
 * when the row is missing on that side). Immutable.
 */
public final class Diff {
    private final TableRef table;
    private final String key;
    private final String here;
    private final String peer;

    public Diff(TableRef table, String key, String here, String peer) {
        this.table = Objects.requireNonNull(table);
        this.key = Objects.requireNonNull(key);
        this.here = here;
        this.peer = peer;
    }

    public TableRef table() {
        return table;
    }

    /** The primary key as a jsonb object text, e.g. {@code {"id": 5}}. */
    public String key() {
        return key;
    }

    public String here() {
        return here;
    }

    public String peer() {
        return peer;
    }

    /** Missing here, missing on the peer, or held differently by both. */
    public String kind() {
        return here == null ? "missing here" : peer == null ? "missing on peer" : "differs";
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Diff)) {
            return false;
        }
        Diff d = (Diff) o;
        return table.equals(d.table) && key.equals(d.key) && Objects.equals(here, d.here) && Objects.equals(peer, d.peer);
    }

    @Override
    public int hashCode() {
        return Objects.hash(table, key, here, peer);
    }

    @Override
    public String toString() {
        return table + " " + key + ": " + kind();
    }
}
