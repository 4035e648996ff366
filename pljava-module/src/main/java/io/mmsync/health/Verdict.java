package io.mmsync.health;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** A health answer: 200 or 503, why, and a few facts for the JSON body. Immutable. */
record Verdict(boolean ok, String reason, Map<String, Object> facts) {

    Verdict {
        facts = Collections.unmodifiableMap(new LinkedHashMap<>(facts));
    }

    static Verdict ok(String reason, Map<String, Object> facts) {
        return new Verdict(true, reason, facts);
    }

    static Verdict fail(String reason, Map<String, Object> facts) {
        return new Verdict(false, reason, facts);
    }

    int httpStatus() {
        return ok ? 200 : 503;
    }
}
