-- Upstreams of kind 'omaha': a server followed by speaking Omaha to it as a client
-- (Flatcar's public update server, or another server of this kind), for one app.
-- Kind 'admin' (every upstream before this migration) follows another server of this
-- kind through its public admin endpoints, for every app it publishes.
ALTER TABLE upstreams ADD COLUMN kind TEXT NOT NULL DEFAULT 'admin';
-- The local app the upstream's releases go to, and the app id sent to the upstream.
ALTER TABLE upstreams ADD COLUMN app_id TEXT NOT NULL DEFAULT '';
ALTER TABLE upstreams ADD COLUMN upstream_app_id TEXT NOT NULL DEFAULT '';
-- The tracks followed (each the name of a local channel), and the architectures asked
-- for: comma-separated lists. The first architecture's payloads are the versions'
-- default packages, the others' packages of their architecture.
ALTER TABLE upstreams ADD COLUMN tracks TEXT NOT NULL DEFAULT '';
ALTER TABLE upstreams ADD COLUMN arches TEXT NOT NULL DEFAULT '';
-- Whether the payloads are downloaded and hosted here.
ALTER TABLE upstreams ADD COLUMN download BOOLEAN NOT NULL DEFAULT FALSE;
-- The last sync from it: when (unix ms, 0 never), 'ok' or 'error', and what it did.
ALTER TABLE upstreams ADD COLUMN last_sync_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE upstreams ADD COLUMN last_status TEXT NOT NULL DEFAULT '';
ALTER TABLE upstreams ADD COLUMN last_detail TEXT NOT NULL DEFAULT '';
