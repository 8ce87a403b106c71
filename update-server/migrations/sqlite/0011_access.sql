-- Access control: every user has a role (admin, operator, viewer), optionally scoped to
-- some applications (a JSON array of canonical app ids; `[]`: every app). Users from before
-- roles were all administrators, and stay so.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE users ADD COLUMN apps TEXT NOT NULL DEFAULT '[]';

-- API tokens for automation: named, with a role, a scope and an expiry. The secret is
-- sealed under the server secret like the users' keys (never stored in clear).
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    apps TEXT NOT NULL,
    secret_sealed BLOB NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    -- Recorded at most once a minute per token (see auth), never on every request.
    last_used_at INTEGER
);
