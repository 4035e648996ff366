-- Inbound progress, written by the *origin's* sender in the same transaction as the changes it
-- applies here, so a crash at any instant neither loses nor duplicates a change.
-- Position: every change of origin visible in snapshot lo is applied; of the range
-- (visible in hi, not in lo) the changes with id <= last_id are applied.
CREATE TABLE @extschema@.progress (
    sync_name       text NOT NULL,
    origin          text NOT NULL,
    lo              pg_snapshot,
    hi              pg_snapshot,
    last_id         bigint NOT NULL DEFAULT 0 CHECK (last_id >= 0),
    applied         bigint NOT NULL DEFAULT 0,
    batches         bigint NOT NULL DEFAULT 0,
    last_change_at  timestamptz,
    applied_at      timestamptz,
    PRIMARY KEY (sync_name, origin)
);

-- Outbound state of this node's sender for each (sync, peer), written by the local agent.
CREATE TABLE @extschema@.links (
    sync_name       text NOT NULL,
    peer            text NOT NULL,
    state           text NOT NULL DEFAULT 'starting'
                    CHECK (state IN ('starting', 'connecting', 'running', 'disconnected', 'paused', 'error')),
    confirmed_lo    pg_snapshot,
    sent            bigint NOT NULL DEFAULT 0,
    last_error      text,
    last_error_at   timestamptz,
    last_sent_at    timestamptz,
    heartbeat_at    timestamptz NOT NULL DEFAULT now(),
    -- changes of this node the peer could not apply and holds set aside (its mmsync.set_aside),
    -- as the sender last counted them there: after a page that set any aside (before that page
    -- is confirmed here, so wait_synced never sees the one without the other) and at every
    -- heartbeat, after the set-aside retries
    peer_set_aside  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (sync_name, peer)
);
