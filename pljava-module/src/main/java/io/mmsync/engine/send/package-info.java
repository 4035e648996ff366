/**
 * The sending side of a link, on the origin node: the link loop ({@code Link}) with its connected
 * session, the page reader of the local queue ({@code ChangeReader}) and its read-ahead, the
 * wake-up protocol with the capture trigger ({@code Wakeup}), the local link row and the purge of
 * the queue ({@code LinkStore}, {@code Purger}), what is read from or pushed to the peer besides
 * changes ({@code PeerStore}: position, sync definition, extension check) and the check that
 * both nodes' tables have the same columns ({@code ColumnCheck}). Hands each page to
 * {@code io.mmsync.engine.apply}.
 */
package io.mmsync.engine.send;
