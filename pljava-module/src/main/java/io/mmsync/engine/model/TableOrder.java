package io.mmsync.engine.model;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The tables of a sync in foreign key order, parents before children (the initial copy and the
 * merge write them in this order); tables in a cycle keep their name order.
 */
public final class TableOrder {
    private TableOrder() {
    }

    /** The sync's tables on the node of {@code c}, parents first; {@code keyedOnly}: only those with a primary key. */
    public static List<TableRef> parentsFirst(Connection c, String sync, boolean keyedOnly) throws SQLException {
        Map<Long, TableRef> byOid = new LinkedHashMap<>();
        try (PreparedStatement st = c.prepareStatement("SELECT t.relid::bigint, t.schema_name, t.table_name FROM mmsync.sync_tables t "
                + "JOIN mmsync.syncs s ON s.id = t.sync_id WHERE s.name = ? AND (NOT ? OR t.mode = 'keyed') "
                + "ORDER BY t.schema_name, t.table_name")) {
            st.setString(1, sync);
            st.setBoolean(2, keyedOnly);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    byOid.put(rs.getLong(1), new TableRef(rs.getString(2), rs.getString(3)));
                }
            }
        }
        Map<Long, List<Long>> parents = new HashMap<>();
        try (PreparedStatement st = c.prepareStatement("SELECT conrelid::bigint, confrelid::bigint FROM pg_catalog.pg_constraint "
                + "WHERE contype = 'f' AND conrelid <> confrelid")) {
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    if (byOid.containsKey(rs.getLong(1)) && byOid.containsKey(rs.getLong(2))) {
                        parents.computeIfAbsent(rs.getLong(1), k -> new ArrayList<>()).add(rs.getLong(2));
                    }
                }
            }
        }
        List<TableRef> out = new ArrayList<>();
        List<Long> left = new ArrayList<>(byOid.keySet());
        while (!left.isEmpty()) {
            Long next = left.stream().filter(o -> parents.getOrDefault(o, List.of()).stream().noneMatch(left::contains))
                    .findFirst().orElse(left.get(0));
            left.remove(next);
            out.add(byOid.get(next));
        }
        return out;
    }
}
