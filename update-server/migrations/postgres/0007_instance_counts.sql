-- Instances per (app, group, version, status), kept by the database in the same
-- transaction as every change of an instance row, so that the census, the fleet gauges
-- and the group pages read a few rows per group instead of scanning the instances.
CREATE TABLE instance_counts (
    app_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (app_id, group_id, version, status)
);

-- Changes not yet added into instance_counts. Several replicas change instances at once:
-- their triggers only append here (no row of a count is locked by an update check, so
-- replicas never wait for nor deadlock on one), and one replica at a time adds the rows
-- into instance_counts and deletes them (`fold`). A count is the sum of both tables.
CREATE TABLE instance_count_deltas (
    app_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL,
    n BIGINT NOT NULL
);

-- The reconciliation's bookkeeping: `generation` moves with each one applied (so that two
-- replicas never apply the same correction twice), `reconciled_at` (unix ms) and `drift`
-- (the sum of the corrections' sizes) tell when the last one ran and what it found.
CREATE TABLE instance_counts_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL,
    reconciled_at BIGINT NOT NULL,
    drift BIGINT NOT NULL
);
INSERT INTO instance_counts_state (id, generation, reconciled_at, drift) VALUES (1, 0, 0, 0);

CREATE FUNCTION instance_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO instance_count_deltas (app_id, group_id, version, status, n)
        VALUES (OLD.app_id, OLD.group_id, OLD.version, OLD.status, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO instance_count_deltas (app_id, group_id, version, status, n)
        VALUES (NEW.app_id, NEW.group_id, NEW.version, NEW.status, 1);
    END IF;
    RETURN NULL;
END
$$;

-- Creating the triggers locks the instances against writes until this migration commits
-- (replicas of an older version writing meanwhile wait), so the count below sees every
-- instance written before, and the triggers every change after.
CREATE TRIGGER instances_count_insert_delete AFTER INSERT OR DELETE ON instances
FOR EACH ROW EXECUTE FUNCTION instance_count_change();

CREATE TRIGGER instances_count_update AFTER UPDATE ON instances
FOR EACH ROW
WHEN (OLD.app_id IS DISTINCT FROM NEW.app_id OR OLD.group_id IS DISTINCT FROM NEW.group_id
    OR OLD.version IS DISTINCT FROM NEW.version OR OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION instance_count_change();

-- The counts of the instances already stored (a database of an older version).
INSERT INTO instance_counts (app_id, group_id, version, status, n)
SELECT app_id, group_id, version, status, COUNT(*) FROM instances
GROUP BY app_id, group_id, version, status;

-- TRUNCATE fires no row trigger: it empties the counts with the instances.
CREATE FUNCTION instance_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM instance_count_deltas;
    DELETE FROM instance_counts;
    RETURN NULL;
END
$$;

CREATE TRIGGER instances_count_truncate AFTER TRUNCATE ON instances
FOR EACH STATEMENT EXECUTE FUNCTION instance_count_truncate();
