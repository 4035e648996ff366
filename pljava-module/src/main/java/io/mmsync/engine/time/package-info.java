/**
 * The clock the engine and the health endpoint take from their host ({@code Clock}).
 */
package io.mmsync.engine.time;
