-- Flatcar fleets: packages per architecture, extra files, floors, blacklists, hash_sha256.

-- A version's packages for named architectures (arm64, say). The version's row in
-- packages is its default package, served to every architecture without a row here.
CREATE TABLE package_arches (
    app_id TEXT NOT NULL,
    version TEXT NOT NULL,
    arch TEXT NOT NULL,
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
    PRIMARY KEY (app_id, version, arch),
    FOREIGN KEY (app_id, version) REFERENCES packages (app_id, version) ON DELETE CASCADE
);

-- A package's extra files (oem-<id>.gz, flatcar-<extension>.gz), listed after its payload
-- in the same Omaha answer and served from the same codebase. arch is '' for the files of
-- the version's default package, else the architecture of its package in package_arches.
CREATE TABLE package_files (
    app_id TEXT NOT NULL,
    version TEXT NOT NULL,
    arch TEXT NOT NULL,
    name TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha1 TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, version, arch, name),
    FOREIGN KEY (app_id, version) REFERENCES packages (app_id, version) ON DELETE CASCADE
);

-- A channel's floors: versions an instance below them must install first. arch is '' for
-- a floor of every architecture, else the one architecture it holds for.
CREATE TABLE channel_floors (
    app_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    arch TEXT NOT NULL,
    version TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, channel, arch, version),
    FOREIGN KEY (app_id, channel) REFERENCES channels (app_id, name) ON DELETE CASCADE
);

-- Versions never offered on a channel, whatever it points at.
CREATE TABLE channel_blacklist (
    app_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    version TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, channel, version),
    FOREIGN KEY (app_id, channel) REFERENCES channels (app_id, name) ON DELETE CASCADE
);

-- How an app's update answers write hash_sha256: 'hex' (Nebraska, Flatcar's postinstall)
-- or 'base64' (updaters built on go-omaha, which compare it as base64).
ALTER TABLE apps ADD COLUMN hash_sha256 TEXT NOT NULL DEFAULT 'hex';
