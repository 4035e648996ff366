/**
 * Compare, merge and repair of a sync's tables on its two nodes (issue 12): bucket digests of the
 * primary key's hash buckets computed in SQL on both nodes, then the keys of differing buckets
 * ({@code TableCompare}); the in-flight check after both queues drained ({@code Comparer}) and its
 * record ({@code CompareLog}); rows made equal with capture off ({@code RowFixer}) by
 * {@code Repair} and by {@code InitialMerge} (add_sync's initial => 'merge', run by a link).
 */
package io.mmsync.engine.compare;
