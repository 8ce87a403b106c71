-- The update service's schema on PostgreSQL. Times are unix milliseconds (BIGINT).
-- App ids are stored canonical: lower case, without braces.

-- One row, bumped by every configuration write: replicas compare it to know when their
-- in-memory configuration cache is stale.
CREATE TABLE config_generation (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO config_generation (id, generation) VALUES (1, 1);

CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE channels (
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    publish BOOLEAN NOT NULL,
    upstream TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, name)
);

CREATE TABLE packages (
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    url TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha1 TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    metadata_size TEXT NOT NULL,
    metadata_signature_rsa TEXT NOT NULL,
    signature TEXT NOT NULL,
    release_notes TEXT NOT NULL,
    required BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, version)
);

CREATE TABLE groups (
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    label TEXT NOT NULL,
    channel TEXT NOT NULL,
    -- The whole policy, encoded by the server (see store::GroupRecord::policy).
    policy TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, id)
);

-- The rollout engine's persisted state of a group but its grants (rate window, recent
-- attempts, automatic pause), encoded by the server. Locked by the
-- grant path with SELECT ... FOR UPDATE, so the read-decide-write is atomic across replicas.
CREATE TABLE group_rollout_state (
    app_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    state BYTEA NOT NULL,
    revision BIGINT NOT NULL,
    PRIMARY KEY (app_id, group_id)
);

-- Outstanding grants (granted, not yet completed, failed or expired), one row per instance.
-- With the group_rollout_state row they make up the engine's rollout state of a group.
CREATE TABLE grants (
    app_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    machine_id TEXT NOT NULL,
    version TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    expires_at BIGINT,
    scheduled BOOLEAN NOT NULL,
    PRIMARY KEY (app_id, group_id, machine_id)
);

CREATE TABLE instances (
    app_id TEXT NOT NULL,
    machine_id TEXT NOT NULL,
    -- The group the instance named in `track`, whether or not such a group exists.
    group_id TEXT NOT NULL,
    version TEXT NOT NULL,
    oem TEXT NOT NULL,
    status TEXT NOT NULL,
    last_event_type BIGINT,
    last_event_result BIGINT,
    last_error_code BIGINT,
    -- The outstanding grant the instance holds, if any.
    grant_version TEXT,
    granted_at BIGINT,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (app_id, machine_id)
);
CREATE INDEX instances_group ON instances (app_id, group_id, version);
CREATE INDEX instances_last_seen ON instances (last_seen);

CREATE TABLE instance_history (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id TEXT NOT NULL,
    machine_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    group_id TEXT NOT NULL,
    version TEXT NOT NULL,
    -- 'event' or 'grant'.
    kind TEXT NOT NULL,
    event_type BIGINT,
    event_result BIGINT,
    error_code BIGINT,
    -- For a grant: the version granted.
    target_version TEXT,
    install_source TEXT NOT NULL
);
CREATE INDEX instance_history_instance ON instance_history (app_id, machine_id, at);
CREATE INDEX instance_history_at ON instance_history (at);

-- Request counts behind the graphs. event_type = -1 and event_result = -1 mark the count of
-- requests per version; other rows count events per (version, type, result).
CREATE TABLE rollups (
    app_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    resolution BIGINT NOT NULL,
    bucket BIGINT NOT NULL,
    version TEXT NOT NULL,
    event_type BIGINT NOT NULL,
    event_result BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (app_id, group_id, resolution, bucket, version, event_type, event_result)
);
CREATE INDEX rollups_bucket ON rollups (resolution, bucket);
