package io.mmsync.engine.send;

import io.mmsync.engine.time.Clock;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** RangeFloor picks the newest sample whose transaction id is below the range's xmin. */
class RangeFloorTest {
    @Test
    void usesTheNewestSampleBelowXminAndForgetsOlderOnes() {
        RangeFloor f = new RangeFloor(Clock.SYSTEM);
        assertEquals(0, f.below(null), "nothing applied yet: from the start");
        assertEquals(0, f.below("100:105:101"), "no sample yet: from the floor");
        f.add(100, 5000);
        f.add(110, 6000);
        f.add(120, 7000);
        assertEquals(0, f.below("100:130:100,125"), "a sample taken with xid 100 does not bound transaction 100's changes");
        assertEquals(5000, f.below("101:130:101"));
        assertEquals(6000, f.below("111:130:"));
        assertEquals(7000, f.below("130:130:"), "xmin past every sample: the newest");
        assertEquals(0, f.below("105:130:"), "older samples were dropped once a newer one qualified");
    }
}
