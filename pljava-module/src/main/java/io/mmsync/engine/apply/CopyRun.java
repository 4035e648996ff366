package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import org.postgresql.PGConnection;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * An insert run applied with {@code COPY ... FROM STDIN} straight into its table: what the plain
 * INSERT of {@link RunExecutor} does (same triggers, constraints, savepoint and fallback to the
 * upsert when a row exists), at about twice its speed, since the peer parses no JSON. A run whose
 * images COPY text cannot carry exactly (see {@link CopyText}) is left to the statement, and the
 * FINE log says so.
 */
final class CopyRun {
    private static final Logger LOG = Logger.getLogger(CopyRun.class.getName());

    private CopyRun() {
    }

    /** Copies the run's new images into its table; false (nothing done) when they cannot travel as COPY text. */
    static boolean copy(Connection peer, TableShape shape, Run run) throws SQLException {
        if (shape.copyKinds == null || !peer.isWrapperFor(PGConnection.class)) {
            LOG.fine(() -> "insert run of " + run.size() + " rows into " + shape.table + " by statement: the table "
                    + "takes no COPY (a view, rules, row security or a column type COPY text does not carry exactly)");
            return false;
        }
        byte[] text = CopyText.encode(run.changes(), Change::newRow, shape.columns, shape.copyKinds);
        if (text == null) {
            LOG.fine(() -> "insert run of " + run.size() + " rows into " + shape.table + " by statement: a value "
                    + "COPY text does not carry exactly");
            return false;
        }
        long rows;
        try {
            rows = peer.unwrap(PGConnection.class).getCopyAPI().copyIn(shape.copySql(), new ByteArrayInputStream(text));
        } catch (IOException e) {
            throw new SQLException("mmsync: COPY into " + shape.table + " failed reading its rows: " + e, "58030", e);
        }
        if (rows != run.size()) {
            throw new SQLException("mmsync: COPY into " + shape.table + " took " + rows + " rows of " + run.size()
                    + "; the page is applied again", "40001");
        }
        if (LOG.isLoggable(Level.FINEST)) {
            LOG.finest("COPY of " + rows + " rows (" + text.length + " bytes) into " + shape.table);
        }
        return true;
    }
}
