package io.mmsync.engine.apply;

import io.mmsync.engine.error.ErrorPolicy;
import io.mmsync.engine.model.Change;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Types;
import java.util.List;

/**
 * Waits for local transactions that are inserting keys an applied change found absent. A delete
 * of a row that is gone here (or a key move whose old row is) takes no lock and no index entry, so
 * a local insert of that key that is still open would commit after the apply unresolved: with
 * {@code latest}, if that insert was made before the incoming change, the origin keeps its later
 * delete and this node the insert. An {@code INSERT ... ON CONFLICT DO NOTHING} of the keys, rolled
 * back at once, waits on the primary key for any such insert to end (PostgreSQL's speculative
 * insertion waits for an in-progress inserter of the same key); the apply's re-check
 * ({@link PageEnd#commit}) then finds it and the page is resolved again. A local insert that starts
 * after the probe is made after the incoming change and builds on it. (A change that lost needs no
 * probe: a local change made after the one it lost to wins as well.)
 */
final class KeyProbe {
    private KeyProbe() {
    }

    /** Probes the keys of {@code changes} (one table), named by their key-bearing images. */
    static void probe(Connection peer, TableShape shape, List<Change> changes) throws SQLException {
        if (changes.isEmpty() || shape.insertOnly) {
            return;
        }
        StringBuilder rows = new StringBuilder("[");
        for (int i = 0; i < changes.size(); i++) {
            rows.append(i > 0 ? "," : "").append(changes.get(i).keyRow());
        }
        rows.append(']');
        Savepoint sp = peer.setSavepoint();
        try (PreparedStatement st = peer.prepareStatement(shape.insertMissingSql())) {
            st.setObject(1, rows.toString(), Types.OTHER);
            st.executeUpdate();
        } catch (SQLException e) {
            // a foreign key or another unique index fails after the wait on the primary key; the
            // rows need not be valid here, only their keys matter
            if (!ErrorPolicy.isDataError(e)) {
                throw e;
            }
        }
        peer.rollback(sp);
    }
}
