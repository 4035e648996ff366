/**
 * The replication engine of one node, as its host sees it: {@link io.mmsync.engine.Engine} (start,
 * stop, what runs) and {@link io.mmsync.engine.EngineConfig} (its settings). It watches the local
 * mmsync catalog and runs one link ({@code send.Link}) per sync and peer. Hosts: the agent
 * ({@code io.mmsync.agent.Main}) and a PL/Java background worker. The sub-packages follow a
 * row's way: {@code send} reads the local queue and hands pages to {@code apply}, which applies
 * them at the peer; {@code model}, {@code conn}, {@code error} and {@code time} serve both and
 * depend on nothing else here (EngineDependenciesTest keeps it so).
 */
package io.mmsync.engine;
