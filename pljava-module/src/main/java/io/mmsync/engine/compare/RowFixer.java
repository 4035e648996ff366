package io.mmsync.engine.compare;

import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Makes one node hold another node's version of rows (for merge and repair): an upsert of the
 * winner's row by column name, or a delete where the winner has none, with capture off
 * (mmsync.origin set to the winner, as the applier does) so the fix is not sent back; each fix is
 * recorded in the node's mmsync.conflicts with the version it replaced.
 */
public final class RowFixer {
    private final Connection loser;
    private final String winner;
    private final String sync;
    private final String strategy;
    private final boolean logMissing;

    /**
     * Fixes rows on {@code loser} to what node {@code winner} holds; {@code strategy} is recorded
     * with each fix; {@code logMissing}: also record rows that were missing on the losing node (a
     * merge copies those without a conflict, a repair records everything it changed).
     */
    public RowFixer(Connection loser, String winner, String sync, String strategy, boolean logMissing) {
        this.loser = loser;
        this.winner = winner;
        this.sync = sync;
        this.strategy = strategy;
        this.logMissing = logMissing;
    }

    /**
     * In one transaction of the losing node: each diff's row there becomes {@code winnerRow(d)}.
     * {@code loserIsHere}: whether the losing node is the diff's "here" side.
     */
    public void fix(TableRef t, List<Diff> diffs, boolean loserIsHere) throws SQLException {
        if (diffs.isEmpty()) {
            return;
        }
        boolean auto = loser.getAutoCommit();
        loser.setAutoCommit(false);
        try {
            try (Statement st = loser.createStatement()) {
                st.execute("SET LOCAL mmsync.origin = '" + winner.replace("'", "''") + "'");
            }
            String[] sql = statements(t);
            try (PreparedStatement up = loser.prepareStatement(sql[0]); PreparedStatement del = loser.prepareStatement(sql[1]);
                 PreparedStatement log = loser.prepareStatement("INSERT INTO mmsync.conflicts (sync_name, schema_name, table_name, key, "
                         + "kind, strategy, resolution, origin, origin_change, winning_row, losing_row) "
                         + "VALUES (?, ?, ?, ?, ?, ?, 'remote_applied', ?, 0, ?::jsonb, ?::jsonb)")) {
                for (Diff d : diffs) {
                    String win = loserIsHere ? d.peer() : d.here();
                    String lose = loserIsHere ? d.here() : d.peer();
                    if (win == null) {
                        del.setObject(1, d.key(), Types.OTHER);
                        del.addBatch();
                    } else {
                        up.setObject(1, win, Types.OTHER);
                        up.addBatch();
                    }
                    if (lose == null && !logMissing) {
                        continue;
                    }
                    log.setString(1, sync);
                    log.setString(2, t.schema());
                    log.setString(3, t.name());
                    log.setString(4, d.key());
                    log.setString(5, strategy.startsWith("merge") ? "merge" : win == null ? "repair_delete" : lose == null ? "repair_insert" : "repair_update");
                    log.setString(6, strategy);
                    log.setString(7, winner);
                    log.setObject(8, win, Types.OTHER);
                    log.setObject(9, lose, Types.OTHER);
                    log.addBatch();
                }
                up.executeBatch();
                del.executeBatch();
                log.executeBatch();
            }
            loser.commit();
        } catch (SQLException | RuntimeException e) {
            loser.rollback();
            throw e;
        } finally {
            loser.setAutoCommit(auto);
        }
    }

    /** {upsert of a row given as jsonb, delete of a key given as jsonb} for the table on the losing node. */
    private String[] statements(TableRef t) throws SQLException {
        List<String> cols = new ArrayList<>();
        List<String> pk = new ArrayList<>();
        try (PreparedStatement st = loser.prepareStatement("SELECT (SELECT pg_catalog.array_agg(col::text) FROM mmsync._copy_columns(r) x), "
                + "mmsync._pk_cols(r) FROM pg_catalog.to_regclass(?) AS r")) {
            st.setString(1, t.quoted());
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                if (rs.getArray(1) == null || rs.getArray(2) == null) {
                    throw new SQLException("mmsync: table " + t + " is missing, or has no primary key, on the node to repair", "42P01");
                }
                cols.addAll(List.of((String[]) rs.getArray(1).getArray()));
                pk.addAll(List.of((String[]) rs.getArray(2).getArray()));
            }
        }
        String c = cols.stream().map(TableRef::quoteIdent).collect(Collectors.joining(", "));
        String k = pk.stream().map(TableRef::quoteIdent).collect(Collectors.joining(", "));
        String set = cols.stream().filter(x -> !pk.contains(x)).map(TableRef::quoteIdent).map(x -> x + " = EXCLUDED." + x)
                .collect(Collectors.joining(", "));
        String upsert = "INSERT INTO " + t.quoted() + " (" + c + ") SELECT " + c + " FROM pg_catalog.jsonb_populate_record(NULL::"
                + t.quoted() + ", ?) ON CONFLICT (" + k + ") DO " + (set.isEmpty() ? "NOTHING" : "UPDATE SET " + set);
        String delete = "DELETE FROM " + t.quoted() + " t WHERE (" + pk.stream().map(x -> "t." + TableRef.quoteIdent(x))
                .collect(Collectors.joining(", ")) + ") IN (SELECT " + pk.stream().map(x -> "k." + TableRef.quoteIdent(x))
                .collect(Collectors.joining(", ")) + " FROM pg_catalog.jsonb_populate_record(NULL::" + t.quoted() + ", ?) k)";
        return new String[] {upsert, delete};
    }
}
