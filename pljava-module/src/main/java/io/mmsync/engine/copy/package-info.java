/**
 * The initial copy (add_sync's initial => 'copy', issue 12), run by a link before it sends: an
 * exported REPEATABLE READ snapshot read by parallel workers ({@code InitialCopy}), key ranges
 * streamed COPY to COPY ({@code RangeCopier}, {@code CopyRange}), the columns both nodes have
 * ({@code CopyPlan}), and the records that make it resumable and visible ({@code CopyStore}).
 */
package io.mmsync.engine.copy;
