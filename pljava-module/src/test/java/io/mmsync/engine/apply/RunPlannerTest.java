package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.TableRef;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** How a page is cut into runs (pure planning; HotRowsIT applies such pages on real servers). */
class RunPlannerTest {
    private static final TableRef A = new TableRef("public", "accounts");
    private static final TableRef T = new TableRef("public", "tellers");
    private static final TableRef B = new TableRef("public", "branches");
    private static final TableRef H = new TableRef("public", "history");
    private static final TableRef U = new TableRef("public", "users");

    private final Map<TableRef, Map<TableRef, Boolean>> parents = new HashMap<>();
    private final Map<TableRef, Map<TableRef, Boolean>> children = new HashMap<>();
    private final Set<TableRef> otherUnique = new HashSet<>();
    private final List<Change> page = new ArrayList<>();
    private final Resolver.Outcome outcome = new Resolver.Outcome();

    private void change(TableRef t, Op op, String key) {
        change(t, op, key, key);
    }

    private void change(TableRef t, Op op, String key, String newKey) {
        String row = "{\"id\":" + key + "}";
        boolean truncate = op == Op.TRUNCATE;
        page.add(new Change(ChangeId.valueOf(page.size() + 1), t, op, Instant.EPOCH, key, newKey,
                op == Op.INSERT || truncate ? null : row, op == Op.DELETE || truncate ? null : "{\"id\":" + newKey + "}"));
    }

    /** {@code child} references {@code parent} (by its primary key, if {@code byPk}): both sides see it. */
    private void foreignKey(TableRef child, TableRef parent, boolean byPk) {
        parents.computeIfAbsent(child, t -> new HashMap<>()).put(parent, byPk);
        children.computeIfAbsent(parent, t -> new HashMap<>()).put(child, byPk);
    }

    /** Runs as "table:op:ids", e.g. "accounts:U:1,2". */
    private List<String> plan() throws Exception {
        return RunPlanner.plan(page, outcome::action, c -> new TableConstraints(parents.getOrDefault(c.table(), Map.of()),
                children.getOrDefault(c.table(), Map.of()), otherUnique.contains(c.table()))).stream()
                .map(r -> r.table().name() + ":" + r.op().name().charAt(0) + ":"
                        + r.changes().stream().map(c -> Long.toString(c.id().asLong())).collect(Collectors.joining(",")))
                .collect(Collectors.toList());
    }

    private void tpcb(int n) {
        for (int i = 0; i < n; i++) {
            change(A, Op.UPDATE, Integer.toString(1000 + i));
            change(T, Op.UPDATE, Integer.toString(i % 2));
            change(B, Op.UPDATE, "1");
            change(H, Op.INSERT, Integer.toString(5000 + i));
        }
    }

    @Test
    void smallTransactionsOverSeveralTablesBecomeOneRunPerTable() throws Exception {
        tpcb(3);
        assertEquals(List.of("accounts:U:1,5,9", "tellers:U:2,6,10", "branches:U:3,7,11", "history:I:4,8,12"), plan());
    }

    @Test
    void foreignKeysToPlainlyUpdatedParentsDoNotStopThat() throws Exception {
        foreignKey(H, A, true);
        foreignKey(H, T, true);
        foreignKey(H, B, true);
        foreignKey(A, B, true);
        foreignKey(T, B, true);
        tpcb(3);
        assertEquals(List.of("accounts:U:1,5,9", "tellers:U:2,6,10", "branches:U:3,7,11", "history:I:4,8,12"), plan());
    }

    @Test
    void aChildNeverOvertakesTheInsertOrDeleteOfItsParent() throws Exception {
        foreignKey(H, B, true);
        change(H, Op.INSERT, "1");
        change(B, Op.INSERT, "2");
        change(H, Op.INSERT, "3"); // references branch 2: stays after it
        change(H, Op.DELETE, "3");
        change(B, Op.DELETE, "2"); // must stay after the child's delete
        assertEquals(List.of("history:I:1", "branches:I:2", "history:I:3", "history:D:4", "branches:D:5"), plan());
    }

    @Test
    void aForeignKeyToAnotherUniqueKeyKeepsOrderEvenForUpdates() throws Exception {
        foreignKey(H, B, false);
        change(H, Op.UPDATE, "1");
        change(B, Op.UPDATE, "2");
        change(H, Op.UPDATE, "3");
        assertEquals(List.of("history:U:1", "branches:U:2", "history:U:3"), plan());
    }

    @Test
    void aHotRowsUpdatesJoinOneRunButARowsOtherOperationsKeepTheirPlace() throws Exception {
        change(B, Op.UPDATE, "1");
        change(A, Op.INSERT, "7");
        change(B, Op.UPDATE, "1");
        change(A, Op.DELETE, "7");
        change(A, Op.INSERT, "7");
        change(B, Op.UPDATE, "1");
        assertEquals(List.of("branches:U:1,3,6", "accounts:I:2", "accounts:D:4", "accounts:I:5"), plan());
    }

    @Test
    void differentOperationsOfATableWithAnotherUniqueIndexKeepTheirOrder() throws Exception {
        otherUnique.add(U);
        change(U, Op.INSERT, "1");
        change(U, Op.DELETE, "2"); // frees a name
        change(U, Op.INSERT, "3"); // takes it
        assertEquals(List.of("users:I:1", "users:D:2", "users:I:3"), plan());
        otherUnique.clear();
        assertEquals(List.of("users:I:1,3", "users:D:2"), plan());
    }

    @Test
    void updatesOfATableWithAnotherUniqueIndexAreNeverOneStatement() throws Exception {
        otherUnique.add(U);
        change(U, Op.UPDATE, "1"); // a -> tmp
        change(A, Op.INSERT, "5");
        change(U, Op.UPDATE, "2"); // b -> a
        change(U, Op.UPDATE, "1"); // tmp -> b
        change(A, Op.INSERT, "6");
        assertEquals(List.of("users:U:1", "accounts:I:2,5", "users:U:3", "users:U:4"), plan());
    }

    @Test
    void keyMovesAndTruncatesAreBarriers() throws Exception {
        change(A, Op.UPDATE, "1");
        change(A, Op.UPDATE, "2", "3");
        change(A, Op.UPDATE, "4");
        change(A, Op.TRUNCATE, "t");
        change(A, Op.UPDATE, "5");
        assertEquals(List.of("accounts:U:1", "accounts:U:2", "accounts:U:3", "accounts:T:4", "accounts:U:5"), plan());
    }

    @Test
    void aTableWhoseConstraintsCannotBeReadIsABarrier() throws Exception {
        change(A, Op.INSERT, "1");
        change(H, Op.INSERT, "2");
        change(A, Op.INSERT, "3");
        RunPlanner.Constraints missingHistory = c -> {
            if (c.table().equals(H)) {
                throw new java.sql.SQLException("table public.history does not exist on node green", "42P01");
            }
            return TableConstraints.none();
        };
        assertEquals(List.of("accounts:I:1", "history:I:2", "accounts:I:3"),
                RunPlanner.plan(page, outcome::action, missingHistory).stream().map(r -> r.table().name() + ":I:"
                        + r.changes().get(0).id().asLong()).collect(Collectors.toList()));
    }

    @Test
    void actionsSplitRunsAndSkippedChangesAreLeftOut() throws Exception {
        change(B, Op.UPDATE, "1");
        change(B, Op.UPDATE, "1");
        change(B, Op.UPDATE, "1");
        change(A, Op.UPDATE, "9");
        outcome.actions.put(page.get(1), Action.DELTA_ONLY);
        outcome.actions.put(page.get(3), Action.SKIP);
        assertEquals(List.of("branches:U:1", "branches:U:2", "branches:U:3"), plan());
    }
}
