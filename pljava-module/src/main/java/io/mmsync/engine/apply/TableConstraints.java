package io.mmsync.engine.apply;

import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.Map;

/**
 * The constraints of a table on the peer that make the order of changes matter beyond each
 * row's own: foreign keys to and from other tables (itself included), and unique indexes or
 * exclusion constraints besides the primary key. {@link RunPlanner} reads them.
 */
final class TableConstraints {
    // For each foreign key from or to the table: the other table, the side this table is on
    // ('p': it references the other, 'c': the other references it) and whether the key
    // referenced is the referenced table's primary key.
    private static final String FK_SQL = "SELECT 'p', n.nspname, c.relname, " + pkReferenced()
            + " FROM pg_catalog.pg_constraint con JOIN pg_catalog.pg_class c ON c.oid = con.confrelid "
            + "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE con.contype = 'f' AND con.conrelid = ? "
            + "UNION ALL SELECT 'c', n.nspname, c.relname, " + pkReferenced()
            + " FROM pg_catalog.pg_constraint con JOIN pg_catalog.pg_class c ON c.oid = con.conrelid "
            + "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE con.contype = 'f' AND con.confrelid = ?";
    private static final String UNIQUE_SQL = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = ? "
            + "AND (i.indisunique OR i.indisexclusion) AND NOT i.indisprimary)";

    /** Tables this one references: true if every such key names their primary key. */
    private final Map<TableRef, Boolean> parents;
    /** Tables that reference this one: true if every such key names this table's primary key. */
    private final Map<TableRef, Boolean> children;
    final boolean otherUnique;

    TableConstraints(Map<TableRef, Boolean> parents, Map<TableRef, Boolean> children, boolean otherUnique) {
        this.parents = Map.copyOf(parents);
        this.children = Map.copyOf(children);
        this.otherUnique = otherUnique;
    }

    /** No foreign keys, no other unique index. */
    static TableConstraints none() {
        return new TableConstraints(Map.of(), Map.of(), false);
    }

    /** Null if this table references no row of {@code parent}; else whether only by its primary key. */
    Boolean references(TableRef parent) {
        return parents.get(parent);
    }

    /** Null if {@code child} references no row of this table; else whether only by its primary key. */
    Boolean referencedBy(TableRef child) {
        return children.get(child);
    }

    static TableConstraints load(Connection conn, long oid) throws SQLException {
        Map<TableRef, Boolean> parents = new HashMap<>();
        Map<TableRef, Boolean> children = new HashMap<>();
        try (PreparedStatement st = conn.prepareStatement(FK_SQL)) {
            st.setLong(1, oid);
            st.setLong(2, oid);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    Map<TableRef, Boolean> side = "p".equals(rs.getString(1)) ? parents : children;
                    side.merge(new TableRef(rs.getString(2), rs.getString(3)), rs.getBoolean(4), Boolean::logicalAnd);
                }
            }
        }
        boolean unique;
        try (PreparedStatement st = conn.prepareStatement(UNIQUE_SQL)) {
            st.setLong(1, oid);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                unique = rs.getBoolean(1);
            }
        }
        return new TableConstraints(parents, children, unique);
    }

    private static String pkReferenced() {
        return "EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = con.confrelid AND i.indisprimary "
                + "AND (SELECT pg_catalog.array_agg(k ORDER BY k) FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) k) "
                + "= (SELECT pg_catalog.array_agg(k ORDER BY k) FROM pg_catalog.unnest(con.confkey) k))";
    }
}
