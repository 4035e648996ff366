package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * An insert run applied with {@code COPY ... FROM STDIN} straight into its table: what the plain
 * INSERT of {@link RunExecutor} does (same triggers, constraints, savepoint and fallback to the
 * upsert when a row exists), at about twice its speed, since the peer parses no JSON. The COPY
 * text is written a chunk of rows at a time while the peer already parses the chunks before it.
 * Rows from the first whose images COPY text cannot carry exactly (see {@link CopyText}) are left
 * to the statement, in order, and the FINE log says so.
 */
final class CopyRun {
    private static final Logger LOG = Logger.getLogger(CopyRun.class.getName());
    /** Rows written per chunk: about 50 KB of small rows. */
    static final int CHUNK_ROWS = 500;

    private CopyRun() {
    }

    /**
     * Copies the run's new images into its table, a chunk at a time; returns how many of its
     * first rows it copied: all of them, or fewer when a chunk cannot travel as COPY text (the
     * caller inserts the rest by statement, after these, so the rows still go in in order).
     */
    static int copy(Connection peer, TableShape shape, Run run) throws SQLException {
        if (shape.copyKinds == null || !peer.isWrapperFor(PGConnection.class)) {
            LOG.fine(() -> "insert run of " + run.size() + " rows into " + shape.table + " by statement: the table "
                    + "takes no COPY (a view, rules, row security or a column type COPY text does not carry exactly)");
            return 0;
        }
        List<Change> rows = run.changes();
        byte[] first = CopyText.encode(rows.subList(0, Math.min(CHUNK_ROWS, rows.size())), Change::newRow,
                shape.columns, shape.copyKinds);
        if (first == null) {
            LOG.fine(() -> "insert run of " + run.size() + " rows into " + shape.table + " by statement: a value "
                    + "COPY text does not carry exactly");
            return 0;
        }
        int copied = 0;
        long bytes = 0;
        CopyIn in = peer.unwrap(PGConnection.class).getCopyAPI().copyIn(shape.copySql());
        try {
            byte[] chunk = first;
            while (chunk != null) {
                in.writeToCopy(chunk, 0, chunk.length);
                bytes += chunk.length;
                copied = Math.min(copied + CHUNK_ROWS, rows.size());
                chunk = copied == rows.size() ? null : CopyText.encode(rows.subList(copied,
                        Math.min(copied + CHUNK_ROWS, rows.size())), Change::newRow, shape.columns, shape.copyKinds);
            }
            long done = in.endCopy();
            if (done != copied) {
                throw new SQLException("mmsync: COPY into " + shape.table + " took " + done + " rows of " + copied
                        + "; the page is applied again", "40001");
            }
        } catch (SQLException | RuntimeException e) {
            if (in.isActive()) {
                try {
                    in.cancelCopy(); // never leave the connection in COPY state
                } catch (SQLException ce) {
                    e.addSuppressed(ce);
                }
            }
            throw e;
        }
        if (copied < rows.size()) {
            int n = copied;
            LOG.fine(() -> "insert run of " + run.size() + " rows into " + shape.table + ": " + n + " by COPY, the rest "
                    + "by statement from a value COPY text does not carry exactly on");
        }
        if (LOG.isLoggable(Level.FINEST)) {
            LOG.finest("COPY of " + copied + " rows (" + bytes + " bytes) into " + shape.table);
        }
        return copied;
    }
}
