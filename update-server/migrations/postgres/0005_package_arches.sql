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
