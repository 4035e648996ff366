package io.mmsync.engine;

import io.mmsync.engine.model.Change;
import io.mmsync.engine.model.Op;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Cuts a page into runs that one set-based statement can apply: consecutive changes of the same
 * table and operation that touch distinct rows. An update that moves a primary key is a run of
 * its own. Order between runs is the page's order, so each row's changes apply in the order they
 * were made.
 */
final class Runs {
    private Runs() {
    }

    static List<List<Change>> split(List<Change> changes) {
        List<List<Change>> runs = new ArrayList<>();
        List<Change> cur = new ArrayList<>();
        Set<String> keys = new HashSet<>();
        for (Change c : changes) {
            boolean alone = c.op() == Op.UPDATE && c.movesKey();
            boolean fits = !cur.isEmpty() && !alone && !cur.get(0).movesKey()
                    && cur.get(0).op() == c.op() && cur.get(0).table().equals(c.table())
                    && !keys.contains(c.key());
            if (!fits && !cur.isEmpty()) {
                runs.add(cur);
                cur = new ArrayList<>();
                keys.clear();
            }
            cur.add(c);
            keys.add(c.key());
        }
        if (!cur.isEmpty()) {
            runs.add(cur);
        }
        return runs;
    }
}
