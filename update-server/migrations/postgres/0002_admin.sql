-- Admin users, the activity log, upstreams, and the Hawk nonces seen recently.

CREATE TABLE users (
    name TEXT PRIMARY KEY,
    -- The API key, encrypted under the server secret (never stored in clear).
    key_sealed BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE activity (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    app_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX activity_at ON activity (at);

CREATE TABLE upstreams (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    label TEXT NOT NULL
);

-- A Hawk nonce may be used once per user within the clock-skew window.
CREATE TABLE hawk_nonces (
    user_name TEXT NOT NULL,
    nonce TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (user_name, nonce)
);
CREATE INDEX hawk_nonces_at ON hawk_nonces (at);
