/**
 * The health endpoint that HAProxy asks ("writable and caught up"): watchers of the local node and
 * of each peer, their history, and the pure rules that turn them into health answers.
 */
package io.mmsync.health;
