package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.TableRef;

import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Hot rows of delta columns under two-way writes (issue 15: two-way TPC-B on both nodes, where
 * every transaction of either node updates one of a handful of branch rows). A page's updates of
 * tables with delta columns do not lock their rows before the competitor lookup: each row is
 * locked by the apply's own update of it, late in the transaction, so local writers of the row
 * wait for the apply only while its last statements and the commit run, not through the lookup.
 * <p>
 * A local change of such a row that commits after the lookup began ("late") is what the lock
 * kept out: the page's re-check ({@link PageEnd}) finds it. It would resolve the page again, which
 * under two-way TPC-B is every page. It need not when every late change of the row is an update of
 * its delta columns alone and leaves the row's other columns as the page's update leaves them:
 * <ul>
 * <li>the incoming update added its delta ({@link Action#APPLY}, other columns from its image):
 * against the late change it would add the same delta, and whoever wins the other columns, they are
 * equal (the late change's, which are the row's before the apply, equal the image's; checked);</li>
 * <li>it added its delta alone ({@link Action#DELTA_ONLY}: the competitor is newer): the late
 * change is newer still (it updated the row after the competitor committed), so it also wins;</li>
 * <li>it was dropped ({@link Action#SKIP}: made before this node's newer insert of the row): an
 * update does not change when the row was last inserted.</li>
 * </ul>
 * Such a race is counted nowhere: the conflict it would have been is one that lost nothing (counted,
 * not logged, see {@link ConflictLog}), and the other node counts it from its side. Only updates
 * that keep the key, under {@code latest} in a sync of two nodes, on a page's first attempt; a page
 * resolved again locks first, as before.
 */
final class LateDelta {
    /** The table's delta columns as text[] (alias st: its mmsync.sync_tables row). */
    static final String DELTA_COLUMNS_SQL = "(SELECT coalesce(pg_catalog.array_agg(p.column_name::text), '{}'::text[]) "
            + "FROM mmsync.column_policies p WHERE p.schema_name = st.schema_name AND p.table_name = st.table_name "
            + "AND p.policy = 'delta')";
    /** Whether a queued change (c; its table's delta columns tabs.dc) is an update of delta columns alone. */
    static final String PURE_SQL = "(c.op = 'U' AND (c.old - tabs.dc) = (c.new - tabs.dc))";
    /**
     * The re-check's condition that a late change of the candidate's row (r: a row of
     * {@link Resolver#LATE_COMPETITORS_SQL}; d: the candidate's entry of {@link #decided}) does not
     * make its decision stale.
     */
    static final String HARMLESS_SQL = "(coalesce(d.x, false) AND coalesce(r.pure, false) "
            + "AND (d.n IS NULL OR r.nd = d.n - r.dc))";

    /** SQLSTATE of a late update that found rows missing here ({@link OnPurpose}). */
    static final String MISSING_CODE = "MM003";
    static final String MISSING = "mmsync: rows of a late delta update are missing";

    private LateDelta() {
    }

    /** {@code update} (an UPDATE statement) failing with {@link #MISSING} unless it updates {@code rows} rows. */
    static String guarded(String update, int rows, boolean own) {
        return "WITH u AS (" + update + " RETURNING 1) SELECT "
                + OnPurpose.raise(own, MISSING_CODE, "'" + MISSING + ": ' || x.n::text || ' of " + rows + "'")
                + " FROM (SELECT pg_catalog.count(*) AS n FROM u) AS x WHERE x.n < " + rows;
    }

    /** Whether {@code e} is the failure of {@link #guarded}. */
    static boolean missing(SQLException e) {
        return OnPurpose.is(e, MISSING_CODE, MISSING);
    }

    /**
     * Takes out of {@code runs} those to be sent with the commit ({@code late}: the runs whose
     * statement {@link RunExecutor#lateUpdate} gives) where every run left after them may be
     * applied before them ({@link RunPlanner#commutes}): each row's changes keep their order and
     * the page still commits as one. Only tables from the first {@code hot} one (in page order) on
     * ({@link #hot}): a table whose rows no local writer touches (TPC-B's accounts) need not wait
     * for the commit, and its statement would lengthen the request that holds the hot rows.
     * <p>
     * Returns their statements table by table, the table with the most distinct rows first (the
     * most rows any page of this applier updated in it, kept in {@code widths}; then page order),
     * a table's runs in page order: the hottest rows are locked last and held the shortest, and in
     * the same order whatever a page holds. Page order alone deadlocked with TPC-B's writers (40P01,
     * or their transaction aborted after a second's wait): a page's updates of a row that lost and
     * of one that won its conflict are runs of their own, and a page that began with the end of a
     * transaction named the branches first; a branch row locked before a teller's is the other order
     * than the writers'. Updates of different tables by key may be applied in either order.
     */
    static List<RunExecutor.Deferred> split(List<Run> runs, Map<Run, List<RunExecutor.Deferred>> late,
                                            RunPlanner.Constraints tables, Set<TableRef> hot, Map<TableRef, Integer> widths) {
        Map<TableRef, Integer> tableOrder = new HashMap<>();
        for (Run r : runs) {
            tableOrder.putIfAbsent(r.table(), tableOrder.size());
        }
        // the tables before the first hot one keep their runs in place (and lock first, in page order)
        int firstHot = hot.stream().filter(tableOrder::containsKey).mapToInt(tableOrder::get).min().orElse(Integer.MAX_VALUE);
        late = new HashMap<>(late);
        late.keySet().removeIf(r -> tableOrder.get(r.table()) < firstHot);
        List<Run> taken = new ArrayList<>();
        List<Change> after = new ArrayList<>();
        boolean barrier = false;
        for (int i = runs.size() - 1; i >= 0; i--) {
            Run r = runs.get(i);
            if (late.containsKey(r) && !barrier && commutesWithAll(after, r, tables)) {
                taken.add(0, r);
                runs.remove(i);
            } else {
                barrier |= r.isAlone();
                after.addAll(r.changes());
            }
        }
        Map<TableRef, Set<String>> rows = new HashMap<>();
        for (Run r : taken) {
            Set<String> keys = rows.computeIfAbsent(r.table(), t -> new HashSet<>());
            r.changes().forEach(c -> keys.add(c.key()));
        }
        rows.forEach((t, keys) -> widths.merge(t, keys.size(), Math::max));
        // stable: a table's runs keep their order
        taken.sort(Comparator.comparing((Run r) -> -widths.get(r.table())).thenComparing(r -> tableOrder.get(r.table())));
        List<RunExecutor.Deferred> out = new ArrayList<>(taken.size());
        for (Run r : taken) {
            out.addAll(late.get(r));
        }
        return out;
    }

    /** Share of a table's updates in the page with a competitor from which it counts as hot. */
    static final double HOT_SHARE = 0.1;

    /**
     * The page's tables of which at least {@link #HOT_SHARE} of the updates that {@code unlocked}
     * names met a competitor: rows local writers are changing now.
     */
    static Set<TableRef> hot(Resolver.Outcome out) {
        if (out.competitorIds.isEmpty()) {
            return Set.of(); // no update met a competitor (a one-way stream)
        }
        Map<TableRef, int[]> counts = new HashMap<>();
        for (Integer i : out.unlocked) {
            int[] n = counts.computeIfAbsent(out.recheck.get(i).table(), t -> new int[2]);
            n[0]++;
            n[1] += out.competitorIds.containsKey(i) ? 1 : 0;
        }
        Set<TableRef> hot = new HashSet<>();
        counts.forEach((t, n) -> {
            if (n[1] >= HOT_SHARE * n[0]) {
                hot.add(t);
            }
        });
        return hot;
    }

    private static boolean commutesWithAll(List<Change> after, Run r, RunPlanner.Constraints tables) {
        for (Change c : after) {
            TableConstraints constraints;
            try {
                constraints = tables.of(c);
            } catch (SQLException e) {
                return false; // the table's constraints cannot be read here: the run stays in its place
            }
            if (Run.isAlone(c) || !RunPlanner.commutes(c, constraints, r)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Whether the change's row is left for its statement to lock: an update of a table with delta
     * columns that keeps its key and changes its delta columns alone (TPC-B's balances). An update
     * that also changes another column is locked first: under two-way writes of such rows the late
     * path raced the same rows page after page and fell behind (RepairUnderLoadIT: the link from
     * green did not catch up within 120 s while both nodes updated 300 rows' text and counter).
     */
    static boolean unlocked(Change c, PeerTables tables) throws SQLException {
        if (c.op() != Op.UPDATE || c.movesKey()) {
            return false;
        }
        TableShape shape = tables.get(c);
        return shape.hasDelta() && deltaAlone(c, shape.deltaColumns);
    }

    /**
     * Whether the update's old and new images differ in {@code deltaColumns} only: every other key of
     * the new image has the same value text in the old one. Compared as text, in one forward scan of
     * each (jsonb prints both with their keys in the same order; issue 14: two Gson trees per update
     * were a twentieth of the sending agent's CPU under pgbench -N). Text is the stricter test: a value
     * printed differently (numeric 1.0 and 1.00) counts as changed, and the row is locked first, the
     * way that is always right; so does a key of the new image the old one lacks, or malformed text.
     */
    static boolean deltaAlone(Change c, List<String> deltaColumns) {
        if (c.oldRow() == null || c.newRow() == null) {
            return false;
        }
        try {
            if (sameAligned(c.oldRow(), c.newRow(), deltaColumns)) {
                return true;
            }
        } catch (IllegalArgumentException | StringIndexOutOfBoundsException e) {
            // not as jsonb prints an object: the full comparison below says what it is
        }
        try {
            return sameOutside(c.oldRow(), c.newRow(), deltaColumns);
        } catch (IllegalArgumentException | StringIndexOutOfBoundsException e) {
            return false; // not a JSON object as jsonb prints one: locked first
        }
    }

    /**
     * The common case of {@link #deltaAlone}, cheaply: true if the old image is the new one with only
     * the values of delta columns different, text for text (the same keys in the same order, every
     * other member the same text); false when that does not hold, which then leaves the answer to
     * {@link #sameOutside}. One scan of the new image's structure, the text between its delta values
     * compared with the old image's in bulk ({@link String#regionMatches}), and only the old image's
     * delta values parsed (where their text starts is known: what precedes them is the same text).
     * Issue 14: the two full scans, a key string each, were a fifth of the sending agent's busiest
     * thread under pgbench -N.
     */
    static boolean sameAligned(String oldRow, String newRow, List<String> deltaColumns) {
        String[] names = deltaColumns.toArray(new String[0]);
        JsonScan n = new JsonScan();
        n.reset(newRow);
        n.expect('{');
        int seg = 0; // start of the text not yet compared, in the new image
        int shift = 0; // where the old image's text is, relative to the new one's
        JsonScan o = null;
        if (!n.next('}')) {
            int guess = 0;
            do {
                int k = n.key(names, guess);
                int vs = n.at();
                if (k >= 0) {
                    guess = k + 1;
                    // the text up to the value the same, then the old image's own value
                    if (!sameText(newRow, seg, vs, oldRow, shift)) {
                        return false;
                    }
                    if (o == null) {
                        o = new JsonScan();
                        o.reset(oldRow);
                    }
                    o.seek(vs + shift);
                    o.skipValue();
                    n.skipValue();
                    seg = n.pos();
                    shift = o.pos() - seg;
                } else {
                    n.skipValue();
                }
            } while (n.next(','));
            n.expect('}');
        }
        // the rest (every other member since the last delta value, the closing brace) the same to the end
        return oldRow.length() - newRow.length() == shift && sameText(newRow, seg, newRow.length(), oldRow, shift);
    }

    /** Whether {@code a}'s text from {@code from} to {@code to} is {@code b}'s at the same places moved by {@code shift}. */
    private static boolean sameText(String a, int from, int to, String b, int shift) {
        return from + shift >= 0 && to + shift <= b.length() && b.regionMatches(from + shift, a, from, to - from);
    }

    private static boolean sameOutside(String oldRow, String newRow, List<String> deltaColumns) {
        JsonScan n = new JsonScan();
        JsonScan o = new JsonScan();
        n.reset(newRow);
        o.reset(oldRow);
        n.expect('{');
        o.expect('{');
        if (n.next('}')) {
            return true;
        }
        boolean oldLeft = !o.next('}');
        do {
            String key = n.key();
            int ns = n.at();
            n.skipValue();
            int ne = n.at();
            boolean found = false;
            while (oldLeft && !found) {
                String oldKey = o.key();
                int os = o.at();
                o.skipValue();
                int oe = o.at();
                if (!o.next(',')) {
                    o.expect('}');
                    oldLeft = false;
                }
                if (oldKey.equals(key)) {
                    found = true;
                    if (!deltaColumns.contains(key) && !n.sameText(ns, ne, o, os, oe)) {
                        return false;
                    }
                }
            }
            if (!found) {
                return false;
            }
        } while (n.next(','));
        n.expect('}');
        return true;
    }

    /**
     * Per candidate index, as JSON for the re-check: {@code c}, the id of the competitor the
     * decision was made against; {@code x}, whether a late update of delta columns alone leaves the
     * decision as it is; {@code n}, the image whose other columns the row gets (an update applied
     * whole, which must then equal the late change's). An update applied whole without a competitor
     * gets no {@code x}: its image is not sent for every row of the page, and a race there is rare.
     */
    static String decided(Resolver.Outcome out) {
        Map<Integer, String> entries = new TreeMap<>();
        for (Map.Entry<Integer, Long> e : out.competitorIds.entrySet()) {
            entries.put(e.getKey(), "{\"i\":" + e.getKey() + ",\"c\":" + e.getValue());
        }
        for (Integer i : out.unlocked) {
            Change c = out.recheck.get(i);
            Action a = out.action(c);
            String head = entries.getOrDefault(i, "{\"i\":" + i);
            if (a == Action.DELTA_ONLY || a == Action.SKIP) {
                entries.put(i, head + ",\"x\":true");
            } else if (a == Action.APPLY && out.competitorIds.containsKey(i) && !out.rebased.containsKey(c)) {
                entries.put(i, head + ",\"x\":true,\"n\":" + c.newRow());
            }
        }
        StringBuilder sb = new StringBuilder("[");
        for (String e : entries.values()) {
            sb.append(sb.length() > 1 ? "," : "").append(e).append('}');
        }
        return sb.append(']').toString();
    }
}
