-- The designated write node of the pair (at most one row), set with @extschema@.set_primary() on
-- any node. The agents' health watchers carry it to the peers: everywhere the setting with the
-- highest (version, set_at, set_on) wins, so a DBA calls set_primary once, on either node.
-- node NULL means "no designated node": HAProxy's static order (blue active, green backup) decides.
CREATE TABLE @extschema@.primary_node (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    node        text CHECK (node ~ '^[a-z][a-z0-9_]{0,62}$'),
    version     bigint NOT NULL CHECK (version >= 1),
    set_at      timestamptz NOT NULL DEFAULT now(),
    set_on      text NOT NULL
);
COMMENT ON TABLE @extschema@.primary_node IS
    'mmsync designated write node (see set_primary()); carried between nodes by the agents';

-- Heartbeat of this node's health endpoint (written about once a second by the agent's health
-- watcher). A peer reads it to tell "PostgreSQL up but agent dead" from "ready": the designated
-- node only takes the writes back when its health endpoint runs. Unlogged: a beat needs no WAL
-- and is meaningless after a crash.
CREATE UNLOGGED TABLE @extschema@.health_beat (
    node        text PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    beat_at     timestamptz NOT NULL
);
