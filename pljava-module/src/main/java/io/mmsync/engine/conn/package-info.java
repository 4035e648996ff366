/**
 * Opening connections: libpq conninfo strings and URIs turned into pgJDBC properties
 * ({@code ConnInfo}), passwords from the passfile ({@code PassFile}), and the one way the engine
 * and the health endpoint open a connection ({@code Connector}).
 */
package io.mmsync.engine.conn;
