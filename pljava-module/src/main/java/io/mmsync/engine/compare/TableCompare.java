package io.mmsync.engine.compare;

import io.mmsync.engine.model.TableRef;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;

/**
 * Finds the keys of one table whose rows may differ between two nodes, without moving the table:
 * both nodes digest their rows into the same hash buckets of the primary key (count and XOR of row
 * hashes, computed in SQL, in parallel); only the buckets whose digests differ are listed row by
 * row (key and row hash, in the same order on both), and the two lists merged as they stream in.
 * A Merkle tree of two levels: a 1,000,000-row table is about 31,000 buckets of 32 rows.
 */
final class TableCompare {
    /** Rows per bucket aimed at; buckets are at least MIN_BUCKETS and at most MAX_BUCKETS. */
    static final int ROWS_PER_BUCKET = 32;
    static final int MIN_BUCKETS = 64;
    static final int MAX_BUCKETS = 1 << 18;
    /** Keys listed per table at most (the count beyond is reported). */
    static final int MAX_KEYS = 10_000;
    private static final int KEYS_PER_FETCH = 500;

    /** The candidates of a table: keys that differed when listed, and how many more did. */
    static final class Candidates {
        final TableRef table;
        final long rowsHere;
        final long rowsPeer;
        final List<String> keys;
        final long more;

        Candidates(TableRef table, long rowsHere, long rowsPeer, List<String> keys, long more) {
            this.table = table;
            this.rowsHere = rowsHere;
            this.rowsPeer = rowsPeer;
            this.keys = keys;
            this.more = more;
        }
    }

    private final TableRef table;
    private final ExecutorService pool;

    TableCompare(TableRef table, ExecutorService pool) {
        this.table = table;
        this.pool = pool;
    }

    /** The table's SQL forms on one node: bucket, key and row text expressions over alias t. */
    private static final class Forms {
        final String bucket;
        final String key;
        final String row;
        final long estimate;

        Forms(String bucket, String key, String row, long estimate) {
            this.bucket = bucket;
            this.key = key;
            this.row = row;
            this.estimate = estimate;
        }
    }

    private Forms forms(Connection c, String node, int buckets) throws SQLException {
        try (PreparedStatement st = c.prepareStatement("SELECT mmsync._bucket_sql(r, 't', ?), "
                + "CASE WHEN r IS NOT NULL THEN mmsync._key_sql(r, 't') END, mmsync._row_text_sql(r, 't'), (SELECT greatest(cl.reltuples, 0)::bigint FROM pg_catalog.pg_class cl "
                + "WHERE cl.oid = r) FROM pg_catalog.to_regclass(?) AS r")) {
            st.setInt(1, buckets);
            st.setString(2, table.quoted());
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                if (rs.getString(3) == null) {
                    throw new SQLException("mmsync: table " + table + " does not exist on node " + node, "42P01");
                }
                return new Forms(rs.getString(1), rs.getString(2), rs.getString(3), rs.getLong(4));
            }
        }
    }

    /** Receives the differing keys in chunks as they stream in (a merge works on each chunk at once). */
    interface KeySink {
        void accept(List<String> chunk) throws SQLException, InterruptedException;
    }

    /** Lists the keys that differ now (at most MAX_KEYS). */
    Candidates candidates(Connection here, Connection peer, String hereName, String peerName)
            throws SQLException, InterruptedException {
        List<String> keys = new ArrayList<>();
        long[] more = {0};
        Candidates c = candidates(here, peer, hereName, peerName, MAX_KEYS, chunk -> {
            for (String k : chunk) {
                if (keys.size() < MAX_KEYS) {
                    keys.add(k);
                } else {
                    more[0]++;
                }
            }
        });
        return new Candidates(table, c.rowsHere, c.rowsPeer, keys, more[0]);
    }

    /**
     * Streams every key that differs now to {@code sink}, in chunks of at most {@code chunk} keys
     * (memory: one chunk); the returned candidates hold the row counts and the number of keys.
     */
    Candidates candidates(Connection here, Connection peer, String hereName, String peerName, int chunk, KeySink sink)
            throws SQLException, InterruptedException {
        Forms h0 = forms(here, hereName, MIN_BUCKETS);
        Forms p0 = forms(peer, peerName, MIN_BUCKETS);
        if (!h0.row.equals(p0.row)) {
            throw new SQLException("mmsync: table " + table + " has other columns on node " + hereName + " than on node "
                    + peerName + " (" + h0.row + " vs " + p0.row + "); make them equal before comparing", "42P16");
        }
        long estimate = Math.max(h0.estimate, p0.estimate);
        int buckets = (int) Math.max(MIN_BUCKETS, Math.min(MAX_BUCKETS, estimate / ROWS_PER_BUCKET));
        Forms h = forms(here, hereName, buckets);
        Forms p = forms(peer, peerName, buckets);
        String digestSql = "SELECT " + h.bucket + ", pg_catalog.count(*), pg_catalog.bit_xor(pg_catalog.hashtextextended("
                + h.row + ", 0)) FROM " + table.quoted() + " t GROUP BY 1";
        Future<long[][]> onPeer = pool.submit(() -> digest(peer, digestSql, buckets));
        long[][] dh = digest(here, digestSql, buckets);
        long[][] dp = get(onPeer);
        List<Integer> differing = new ArrayList<>();
        long rowsHere = 0;
        long rowsPeer = 0;
        for (int b = 0; b < buckets; b++) {
            rowsHere += dh[0][b];
            rowsPeer += dp[0][b];
            if (dh[0][b] != dp[0][b] || dh[1][b] != dp[1][b]) {
                differing.add(b);
            }
        }
        long found = 0;
        if (!differing.isEmpty()) {
            found = listKeys(here, peer, h, differing, chunk, sink);
        }
        return new Candidates(table, rowsHere, rowsPeer, List.of(), found);
    }

    private static long[][] digest(Connection c, String sql, int buckets) throws SQLException {
        long[][] d = new long[2][buckets];
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            while (rs.next()) {
                int b = rs.getInt(1);
                d[0][b] = rs.getLong(2);
                d[1][b] = rs.getLong(3);
            }
        }
        return d;
    }

    /** Merges both nodes' (bucket, key, row hash) lists of the differing buckets into the sink; returns the keys found. */
    private long listKeys(Connection here, Connection peer, Forms f, List<Integer> buckets, int chunk, KeySink sink)
            throws SQLException, InterruptedException {
        String sql = "SELECT b, k, h FROM (SELECT " + f.bucket + " AS b, " + f.key + "::text AS k, pg_catalog.hashtextextended("
                + f.row + ", 0) AS h FROM " + table.quoted() + " t) x WHERE b = ANY (?) ORDER BY b, k COLLATE \"C\"";
        long found = 0;
        List<String> keys = new ArrayList<>();
        boolean hAuto = here.getAutoCommit();
        boolean pAuto = peer.getAutoCommit();
        here.setAutoCommit(false); // a cursor: the lists stream
        peer.setAutoCommit(false);
        try (PreparedStatement sh = here.prepareStatement(sql); PreparedStatement sp = peer.prepareStatement(sql)) {
            Integer[] arr = buckets.toArray(new Integer[0]);
            sh.setArray(1, here.createArrayOf("int4", arr));
            sp.setArray(1, peer.createArrayOf("int4", arr));
            sh.setFetchSize(2000);
            sp.setFetchSize(2000);
            try (ResultSet rh = sh.executeQuery(); ResultSet rp = sp.executeQuery()) {
                boolean hasH = rh.next();
                boolean hasP = rp.next();
                while (hasH || hasP) {
                    int c;
                    if (!hasH) {
                        c = 1;
                    } else if (!hasP) {
                        c = -1;
                    } else {
                        c = Integer.compare(rh.getInt(1), rp.getInt(1));
                        if (c == 0) {
                            c = compareCodePoints(rh.getString(2), rp.getString(2));
                        }
                    }
                    String key = null;
                    if (c < 0) {
                        key = rh.getString(2);
                        hasH = rh.next();
                    } else if (c > 0) {
                        key = rp.getString(2);
                        hasP = rp.next();
                    } else {
                        if (rh.getLong(3) != rp.getLong(3)) {
                            key = rh.getString(2);
                        }
                        hasH = rh.next();
                        hasP = rp.next();
                    }
                    if (key != null) {
                        found++;
                        keys.add(key);
                        if (keys.size() >= chunk) {
                            sink.accept(keys);
                            keys = new ArrayList<>();
                        }
                    }
                }
            }
            if (!keys.isEmpty()) {
                sink.accept(keys);
            }
        } finally {
            here.rollback();
            peer.rollback();
            here.setAutoCommit(hAuto);
            peer.setAutoCommit(pAuto);
        }
        return found;
    }

    /** The order of COLLATE "C" (UTF-8 bytes), which is code point order. */
    static int compareCodePoints(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }

    /** The rows (jsonb text) of {@code keys} on one node; keys without a row there are absent. */
    Map<String, String> rows(Connection c, List<String> keys) throws SQLException {
        Map<String, String> out = new HashMap<>();
        try (PreparedStatement st = c.prepareStatement("SELECT key, \"row\"::text FROM mmsync._rows_by_key(?::regclass, ?::jsonb)")) {
            for (int i = 0; i < keys.size(); i += KEYS_PER_FETCH) {
                List<String> chunk = keys.subList(i, Math.min(keys.size(), i + KEYS_PER_FETCH));
                st.setString(1, table.quoted());
                st.setObject(2, "[" + String.join(",", chunk) + "]", Types.OTHER);
                try (ResultSet rs = st.executeQuery()) {
                    while (rs.next()) {
                        out.put(rs.getString(1), rs.getString(2));
                    }
                }
            }
        }
        return out;
    }

    static <T> T get(Future<T> f) throws SQLException, InterruptedException {
        try {
            return f.get();
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof SQLException) {
                throw (SQLException) c;
            }
            if (c instanceof RuntimeException) {
                throw (RuntimeException) c;
            }
            throw new IllegalStateException(c);
        }
    }
}
