/**
 * Compare, merge and repair of a sync's tables on its two nodes (issue 12): bucket digests of the
 * primary key's hash buckets computed in SQL on both nodes, then the keys of differing buckets
 * ({@code TableCompare}); the in-flight check after both queues drained ({@code Comparer}) and its
 * record ({@code CompareLog}); rows made equal through the normal apply path, queued by the winning
 * node as ordinary changes ({@code RepairQueue}) and recorded ({@code RepairRecord}), by
 * {@code Repair} and by {@code InitialMerge} (add_sync's initial => 'merge', beside the links).
 */
package io.mmsync.engine.compare;
