/**
 * The {@code mmsync} command: the agent that runs the engine (and optionally the health endpoint)
 * beside a server until it is stopped.
 */
package io.mmsync.agent;
