/**
 * The one error policy of engine and health endpoint ({@code ErrorPolicy}): what an SQLSTATE or
 * an I/O failure means (reconnect, wait for the DBA, set a change aside) and how an error is
 * described in one line for status and logs.
 */
package io.mmsync.engine.error;
