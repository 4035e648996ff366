package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.TableRef;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Which runs of a page {@link LateDelta#split} sends with the commit, and in what order (pure
 * planning; LateDeltaIT applies such pages on a real server).
 */
class LateDeltaTest {
    private static final TableRef A = new TableRef("public", "accounts");
    private static final TableRef T = new TableRef("public", "tellers");
    private static final TableRef B = new TableRef("public", "branches");
    private static final TableRef H = new TableRef("public", "history");
    private static final RunPlanner.Constraints NONE = c -> new TableConstraints(Map.of(), Map.of(), false);

    private final List<Run> runs = new ArrayList<>();
    private final Map<Run, List<RunExecutor.Deferred>> late = new IdentityHashMap<>();
    private final Map<TableRef, Integer> widths = new java.util.HashMap<>();
    private int ids;

    /** A run of {@code op} on {@code t} for rows {@code keys}; late ones get a statement named after it. */
    private Run run(TableRef t, Op op, Action action, boolean isLate, String... keys) {
        Run r = null;
        for (String k : keys) {
            String row = "{\"id\":" + k + "}";
            Change c = new Change(ChangeId.valueOf(++ids), t, op, Instant.EPOCH, k, k, op == Op.INSERT ? null : row,
                    op == Op.DELETE ? null : row);
            if (r == null) {
                r = Run.of(action, c);
            } else {
                r.add(c);
            }
        }
        runs.add(r);
        if (isLate) {
            late.put(r, List.of(new RunExecutor.Deferred(t.name() + ":" + action + ":" + String.join(",", keys), "[]")));
        }
        return r;
    }

    private List<String> split() {
        return split(Set.of(A, T, B, H));
    }

    private List<String> split(Set<TableRef> hot) {
        return LateDelta.split(runs, late, NONE, hot, widths).stream().map(RunExecutor.Deferred::sql).collect(Collectors.toList());
    }

    private List<String> left() {
        return runs.stream().map(r -> r.table().name() + ":" + r.op()).collect(Collectors.toList());
    }

    @Test
    void tpcbsUpdatesGoLastTableByTableAsThePageFirstNamesThem() {
        run(A, Op.UPDATE, Action.APPLY, true, "1", "2");
        run(T, Op.UPDATE, Action.APPLY, true, "11");
        run(B, Op.UPDATE, Action.APPLY, true, "21");
        run(T, Op.UPDATE, Action.DELTA_ONLY, true, "12"); // lost its conflict: a run of its own, after the branches'
        run(H, Op.INSERT, Action.APPLY, false, "31", "32");
        assertEquals(List.of("accounts:APPLY:1,2", "tellers:APPLY:11", "tellers:DELTA_ONLY:12", "branches:APPLY:21"), split(),
                "a teller's update before any branch's, as TPC-B's writers lock them");
        assertEquals(List.of("history:INSERT"), left());
    }

    @Test
    void aRunFollowedByAChangeOfOneOfItsRowsStaysInPlace() {
        run(T, Op.UPDATE, Action.APPLY, true, "11", "12");
        run(B, Op.UPDATE, Action.APPLY, true, "21");
        run(T, Op.DELETE, Action.APPLY, false, "12");
        run(T, Op.UPDATE, Action.DELTA_ONLY, true, "13");
        assertEquals(List.of("tellers:DELTA_ONLY:13", "branches:APPLY:21"), split(),
                "the tellers' first run stays before the delete of its row 12; the rest table by table");
        assertEquals(List.of("tellers:UPDATE", "tellers:DELETE"), left());
    }

    @Test
    void tablesBeforeTheFirstHotOneKeepTheirRunsInPlace() {
        run(A, Op.UPDATE, Action.APPLY, true, "1", "2");
        run(T, Op.UPDATE, Action.APPLY, true, "11");
        run(B, Op.UPDATE, Action.APPLY, true, "21");
        run(H, Op.INSERT, Action.APPLY, false, "31");
        assertEquals(List.of("tellers:APPLY:11", "branches:APPLY:21"), split(Set.of(T)),
                "the accounts (no local writer) in place; the branches after the hot tellers, to keep the table order");
        assertEquals(List.of("accounts:UPDATE", "history:INSERT"), left());
    }

    @Test
    void tablesWithFewerRowsGoLastWhateverThePageNamesFirst() {
        // the page begins with the end of a transaction (its branch update), as a page cut there does
        run(B, Op.UPDATE, Action.APPLY, true, "21");
        run(A, Op.UPDATE, Action.APPLY, true, "1", "2", "3", "4");
        run(T, Op.UPDATE, Action.APPLY, true, "11", "12", "13");
        run(B, Op.UPDATE, Action.DELTA_ONLY, true, "22");
        assertEquals(List.of("accounts:APPLY:1,2,3,4", "tellers:APPLY:11,12,13", "branches:APPLY:21", "branches:DELTA_ONLY:22"),
                split(), "the branches (2 rows) after the tellers (3), though the page names them first");
        runs.clear();
        late.clear();
        run(B, Op.UPDATE, Action.APPLY, true, "23");
        run(T, Op.UPDATE, Action.APPLY, true, "14");
        run(A, Op.UPDATE, Action.APPLY, true, "5");
        assertEquals(List.of("accounts:APPLY:5", "tellers:APPLY:14", "branches:APPLY:23"), split(),
                "the next page, one row each: by the most rows each table had in a page so far, not page order");
    }

    @Test
    void nothingMovesPastATruncate() {
        run(B, Op.UPDATE, Action.APPLY, true, "21");
        Run truncate = Run.of(Action.APPLY, new Change(ChangeId.valueOf(++ids), H, Op.TRUNCATE, Instant.EPOCH, "", "", null, null));
        runs.add(truncate);
        run(T, Op.UPDATE, Action.APPLY, true, "11");
        assertEquals(List.of("tellers:APPLY:11"), split());
        assertEquals(List.of("branches:UPDATE", "history:TRUNCATE"), left());
    }
    private static boolean deltaAlone(String oldRow, String newRow) {
        Change c = new Change(ChangeId.valueOf(1), A, Op.UPDATE, Instant.EPOCH, "1", "1", oldRow, newRow);
        return LateDelta.deltaAlone(c, List.of("abalance"));
    }

    /** Which updates change delta columns alone, from the images as jsonb prints them (text compared, no Gson tree). */
    @Test
    void deltaAloneComparesTheOtherColumnsAsText() {
        String filler = "\"filler\": \"  x\\\"y \"";
        // pgbench -N: abalance alone
        assertEquals(true, deltaAlone("{\"aid\": 7, \"bid\": 1, " + filler + ", \"abalance\": 0}",
                "{\"aid\": 7, \"bid\": 1, " + filler + ", \"abalance\": -3789}"));
        assertEquals(true, deltaAlone("{\"aid\": 7, \"abalance\": 5}", "{\"aid\": 7, \"abalance\": 5}"));
        assertEquals(true, deltaAlone("{}", "{}"));
        // another column too: its value, a nested value, a string differing after an escape
        assertEquals(false, deltaAlone("{\"aid\": 7, \"bid\": 1, \"abalance\": 0}", "{\"aid\": 7, \"bid\": 2, \"abalance\": 1}"));
        assertEquals(false, deltaAlone("{\"aid\": 7, \"tags\": [1, {\"a\": 2}], \"abalance\": 0}",
                "{\"aid\": 7, \"tags\": [1, {\"a\": 3}], \"abalance\": 0}"));
        assertEquals(true, deltaAlone("{\"aid\": 7, \"tags\": [1, {\"a\": 2}], \"abalance\": 0}",
                "{\"aid\": 7, \"tags\": [1, {\"a\": 2}], \"abalance\": 9}"));
        assertEquals(false, deltaAlone("{\"s\": \"a\\\"b\", \"abalance\": 0}", "{\"s\": \"a\\\"c\", \"abalance\": 0}"));
        assertEquals(false, deltaAlone("{\"aid\": 7, \"bid\": null, \"abalance\": 0}", "{\"aid\": 7, \"bid\": 1, \"abalance\": 0}"));
        // the key moved
        assertEquals(false, deltaAlone("{\"aid\": 7, \"abalance\": 0}", "{\"aid\": 8, \"abalance\": 0}"));
        // a key of the new image the old one lacks, text printed differently, not an image: locked first
        assertEquals(false, deltaAlone("{\"aid\": 7, \"abalance\": 0}", "{\"aid\": 7, \"bid\": 1, \"abalance\": 0}"));
        assertEquals(false, deltaAlone("{\"aid\": 7, \"x\": 1.0}", "{\"aid\": 7, \"x\": 1.00}"));
        assertEquals(false, deltaAlone("{\"aid\": 7", "{\"aid\": 7}"));
        assertEquals(false, deltaAlone("[1]", "{\"aid\": 7}"));
        // keys of the old image the new one lacks are not compared (as before)
        assertEquals(true, deltaAlone("{\"aid\": 7, \"gone\": 3, \"abalance\": 0}", "{\"aid\": 7, \"abalance\": 1}"));
    }

    /** The aligned comparison (the common case, before the full one): true only where the texts line up around delta values. */
    @Test
    void alignedComparisonProvesOnlyWhatHolds() {
        List<String> d = List.of("abalance", "n");
        String filler = "\"filler\": \"  x\\\"y \\\\\"";
        assertEquals(true, LateDelta.sameAligned("{\"aid\": 7, " + filler + ", \"abalance\": 100}",
                "{\"aid\": 7, " + filler + ", \"abalance\": 1000}", d));
        assertEquals(true, LateDelta.sameAligned("{\"aid\": 7, \"abalance\": -5, \"x\": \"a\", \"n\": 1}",
                "{\"aid\": 7, \"abalance\": 12, \"x\": \"a\", \"n\": 200}", d));
        assertEquals(true, LateDelta.sameAligned("{}", "{}", d));
        // the old image holds a member more right after the delta value: not the same keys
        assertEquals(false, LateDelta.sameAligned("{\"abalance\": 1, \"q\": 3, \"z\": 1}", "{\"abalance\": 12, \"z\": 1}", d));
        // (the full comparison then answers: it does not compare keys of the old image the new one lacks)
        assertEquals(true, deltaAlone("{\"abalance\": 1, \"q\": 3, \"z\": 1}", "{\"abalance\": 12, \"z\": 1}"));
        // another column differs, before, between or after the delta values
        assertEquals(false, LateDelta.sameAligned("{\"aid\": 7, \"abalance\": 1, \"x\": \"a\", \"n\": 1}",
                "{\"aid\": 7, \"abalance\": 1, \"x\": \"b\", \"n\": 1}", d));
        assertEquals(false, LateDelta.sameAligned("{\"aid\": 7, \"abalance\": 1}", "{\"aid\": 8, \"abalance\": 1}", d));
        assertEquals(false, LateDelta.sameAligned("{\"aid\": 7, \"abalance\": 1, \"s\": \"a\\\"b\"}",
                "{\"aid\": 7, \"abalance\": 2, \"s\": \"a\\\"c\"}", d));
        // a string delta value holding what looks like members
        assertEquals(true, LateDelta.sameAligned("{\"n\": \"1, \\\"q\\\": 3\", \"z\": 1}", "{\"n\": \"2\", \"z\": 1}", d));
        // the old image shorter or cut: not proven (the full comparison decides)
        assertEquals(false, LateDelta.sameAligned("{\"aid\": 7", "{\"aid\": 7}", d));
        assertEquals(false, LateDelta.sameAligned("{\"aid\": 7, \"gone\": 3, \"abalance\": 0}", "{\"aid\": 7, \"abalance\": 1}", d));
    }
}
