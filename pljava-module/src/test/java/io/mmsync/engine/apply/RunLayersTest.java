package io.mmsync.engine.apply;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.ChangeId;
import io.mmsync.engine.model.Op;
import io.mmsync.engine.model.TableRef;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** RunExecutor.layers: a run's updates as layers of distinct rows, in the run's order within each. */
class RunLayersTest {
    private static final TableRef T = new TableRef("public", "acc");

    private static List<Change> updates(int... keys) {
        List<Change> out = new ArrayList<>();
        for (int i = 0; i < keys.length; i++) {
            String img = "{\"id\":" + keys[i] + ",\"v\":" + i + "}";
            out.add(new Change(ChangeId.valueOf(i + 1), T, Op.UPDATE, Instant.EPOCH, String.valueOf(keys[i]),
                    String.valueOf(keys[i]), img, img));
        }
        return out;
    }

    private static String ids(List<List<Change>> layers) {
        return layers.stream().map(l -> l.stream().map(c -> String.valueOf(c.id().asLong())).collect(Collectors.joining(",")))
                .collect(Collectors.joining(" | "));
    }

    @Test
    void kthUpdateOfEachRowGoesToLayerK() {
        // rows 1, 2, 1, 3, 1, 2: row 1 three times, row 2 twice
        assertEquals("1,2,4 | 3,6 | 5", ids(RunExecutor.layers(updates(1, 2, 1, 3, 1, 2))));
        assertEquals("1,2,3", ids(RunExecutor.layers(updates(7, 8, 9))), "distinct rows: one layer");
    }

    @Test
    void aRowUpdatedMoreOftenThanMaxLayersTakesTheAggregatingStatement() {
        int[] keys = new int[RunExecutor.MAX_LAYERS + 2];
        keys[0] = 5;
        for (int i = 1; i < keys.length; i++) {
            keys[i] = i <= RunExecutor.MAX_LAYERS ? 4 : 6;
        }
        assertEquals(RunExecutor.MAX_LAYERS, RunExecutor.layers(updates(keys)).size(), "MAX_LAYERS updates of row 4: layers");
        keys[keys.length - 1] = 4;
        assertNull(RunExecutor.layers(updates(keys)), "one more: null");
    }
}
