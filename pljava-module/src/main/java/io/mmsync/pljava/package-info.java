/**
 * Entry points PostgreSQL calls through PL/Java, declared by hand in sql/pljava/mmsync-pljava.sql.
 */
package io.mmsync.pljava;
