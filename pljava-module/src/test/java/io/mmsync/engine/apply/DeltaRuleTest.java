package io.mmsync.engine.apply;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.mmsync.engine.model.Op;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link DeltaRule} on three simulated nodes: each makes random inserts, increments, deletes and
 * re-inserts of one row on what it has, and receives the others' changes in their order but
 * interleaved at random with its own (a node's link delivers each origin's changes in order, the
 * three origins in any order). Whatever the interleaving, the three end with the same row, and that
 * row is the rule computed from the set of all changes (exists iff the newest insert is newer than
 * the newest delete; v is that insert's v plus the deltas of every newer update; the other column
 * the newest of those). 3,000 seeded histories.
 */
class DeltaRuleTest {
    private static final List<String> NODES = List.of("blue", "green", "red");
    private static final List<String> DELTA = List.of("v");

    /** One node: the row (null: not here), its log, and what it still has to receive from each origin. */
    private static final class Node {
        final String name;
        JsonObject row;
        final List<DeltaRule.Entry> log = new ArrayList<>();
        final List<ArrayDeque<DeltaRule.Entry>> inbox = new ArrayList<>();

        Node(String name) {
            this.name = name;
            for (int i = 0; i < NODES.size(); i++) {
                inbox.add(new ArrayDeque<>());
            }
        }

        void receive(DeltaRule.Entry c) {
            DeltaRule.Result r = DeltaRule.decide(log, row != null, c, DELTA);
            JsonObject n = c.newRow() == null ? null : JsonParser.parseString(c.newRow()).getAsJsonObject();
            JsonObject o = c.oldRow() == null ? null : JsonParser.parseString(c.oldRow()).getAsJsonObject();
            switch (r.kind()) {
                case APPLY -> {
                    long v = row.get("v").getAsLong() + n.get("v").getAsLong() - o.get("v").getAsLong();
                    row = n.deepCopy();
                    row.addProperty("v", v);
                }
                case DELTA_ONLY -> row.addProperty("v", row.get("v").getAsLong() + n.get("v").getAsLong() - o.get("v").getAsLong());
                case DELETE -> row = null;
                case WRITE -> row = JsonParser.parseString(r.row()).getAsJsonObject();
                default -> { }
            }
            assertEquals(r.hereAfter(), row != null, "hereAfter of " + r);
            log.add(c);
        }

        String state() {
            return row == null ? "-" : row.get("v").getAsLong() + ":" + row.get("node").getAsString();
        }
    }

    @Test
    void threeNodesEndAlikeWhateverTheOrderAndAsTheRuleSays() {
        for (long seed = 1; seed <= 3000; seed++) {
            history(new Random(seed), seed);
        }
    }

    private static void history(Random rnd, long seed) {
        List<Node> nodes = new ArrayList<>();
        for (String n : NODES) {
            nodes.add(new Node(n));
        }
        List<DeltaRule.Entry> all = new ArrayList<>();
        long clock = 0;
        long[] ids = new long[NODES.size()];
        int steps = 4 + rnd.nextInt(14);
        for (int s = 0; s < steps; s++) {
            int k = rnd.nextInt(NODES.size());
            Node n = nodes.get(k);
            if (rnd.nextInt(3) == 0) {
                deliverOne(n, rnd);
                continue;
            }
            // a local change on what n has, later than every change made before (clocks in sync)
            clock += 1 + rnd.nextInt(2);
            DeltaRule.Version ver = new DeltaRule.Version(Instant.ofEpochSecond(1_000_000 + clock), n.name, ++ids[k]);
            DeltaRule.Entry c;
            if (n.row == null) {
                c = new DeltaRule.Entry(Op.INSERT, ver, null, image(rnd.nextInt(5), n.name));
                n.row = JsonParser.parseString(c.newRow()).getAsJsonObject();
            } else if (rnd.nextInt(3) == 0) {
                c = new DeltaRule.Entry(Op.DELETE, ver, n.row.toString(), null);
                n.row = null;
            } else {
                String old = n.row.toString();
                n.row = JsonParser.parseString(image(n.row.get("v").getAsLong() + 1 + rnd.nextInt(9), n.name)).getAsJsonObject();
                c = new DeltaRule.Entry(Op.UPDATE, ver, old, n.row.toString());
            }
            // a node's own change is in its log (its queue) without a decision
            n.log.add(c);
            all.add(c);
            for (Node other : nodes) {
                if (other != n) {
                    other.inbox.get(k).add(c);
                }
            }
        }
        for (Node n : nodes) {
            while (n.inbox.stream().anyMatch(q -> !q.isEmpty())) {
                deliverOne(n, rnd);
            }
        }
        String expected = rule(all);
        for (Node n : nodes) {
            assertEquals(expected, n.state(), "seed " + seed + ", node " + n.name + ", changes " + all);
        }
    }

    private static void deliverOne(Node n, Random rnd) {
        List<ArrayDeque<DeltaRule.Entry>> ready = n.inbox.stream().filter(q -> !q.isEmpty()).toList();
        if (!ready.isEmpty()) {
            n.receive(ready.get(rnd.nextInt(ready.size())).poll());
        }
    }

    private static String image(long v, String node) {
        JsonObject o = new JsonObject();
        o.addProperty("id", 1);
        o.addProperty("v", v);
        o.addProperty("node", node);
        return o.toString();
    }

    /** The rule on the set of changes: "-" when the row is gone, else "v:node". */
    private static String rule(List<DeltaRule.Entry> all) {
        DeltaRule.Entry born = null;
        DeltaRule.Entry removed = null;
        for (DeltaRule.Entry e : all) {
            if (e.op() == Op.INSERT && (born == null || e.version().newerThan(born.version()))) {
                born = e;
            } else if (e.op() == Op.DELETE && (removed == null || e.version().newerThan(removed.version()))) {
                removed = e;
            }
        }
        if (born == null || (removed != null && removed.version().newerThan(born.version()))) {
            return "-";
        }
        long v = JsonParser.parseString(born.newRow()).getAsJsonObject().get("v").getAsLong();
        DeltaRule.Entry newest = born;
        for (DeltaRule.Entry e : all) {
            if (e.op() == Op.UPDATE && e.version().newerThan(born.version())) {
                v += JsonParser.parseString(e.newRow()).getAsJsonObject().get("v").getAsLong()
                        - JsonParser.parseString(e.oldRow()).getAsJsonObject().get("v").getAsLong();
                if (e.version().newerThan(newest.version())) {
                    newest = e;
                }
            }
        }
        return v + ":" + JsonParser.parseString(newest.newRow()).getAsJsonObject().get("node").getAsString();
    }
}
