-- Instances per (app, group, version, status), kept by the database in the same
-- transaction as every change of an instance row, so that the census, the fleet gauges
-- and the group pages read a few rows per group instead of scanning the instances.
CREATE TABLE instance_counts (
    app_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (app_id, group_id, version, status)
);

-- Changes not yet added into instance_counts: the reconciliation's corrections (and, on
-- PostgreSQL, every change: see its migration). A count is the sum of both tables.
CREATE TABLE instance_count_deltas (
    app_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL
);

-- The reconciliation's bookkeeping: `generation` moves with each one applied (so that two
-- replicas never apply the same correction twice), `reconciled_at` (unix ms) and `drift`
-- (the sum of the corrections' sizes) tell when the last one ran and what it found.
CREATE TABLE instance_counts_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL,
    reconciled_at INTEGER NOT NULL,
    drift INTEGER NOT NULL
);
INSERT INTO instance_counts_state (id, generation, reconciled_at, drift) VALUES (1, 0, 0, 0);

-- SQLite has one writer at a time: the triggers add into the counts directly.
CREATE TRIGGER instances_count_insert AFTER INSERT ON instances BEGIN
    INSERT INTO instance_counts (app_id, group_id, version, status, n)
    VALUES (NEW.app_id, NEW.group_id, NEW.version, NEW.status, 1)
    ON CONFLICT (app_id, group_id, version, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER instances_count_delete AFTER DELETE ON instances BEGIN
    INSERT INTO instance_counts (app_id, group_id, version, status, n)
    VALUES (OLD.app_id, OLD.group_id, OLD.version, OLD.status, -1)
    ON CONFLICT (app_id, group_id, version, status) DO UPDATE SET n = n - 1;
END;

CREATE TRIGGER instances_count_update AFTER UPDATE OF app_id, group_id, version, status
ON instances
WHEN OLD.app_id IS NOT NEW.app_id OR OLD.group_id IS NOT NEW.group_id
    OR OLD.version IS NOT NEW.version OR OLD.status IS NOT NEW.status
BEGIN
    INSERT INTO instance_counts (app_id, group_id, version, status, n)
    VALUES (OLD.app_id, OLD.group_id, OLD.version, OLD.status, -1)
    ON CONFLICT (app_id, group_id, version, status) DO UPDATE SET n = n - 1;
    INSERT INTO instance_counts (app_id, group_id, version, status, n)
    VALUES (NEW.app_id, NEW.group_id, NEW.version, NEW.status, 1)
    ON CONFLICT (app_id, group_id, version, status) DO UPDATE SET n = n + 1;
END;

-- The counts of the instances already stored (a database of an older version).
INSERT INTO instance_counts (app_id, group_id, version, status, n)
SELECT app_id, group_id, version, status, COUNT(*) FROM instances
GROUP BY app_id, group_id, version, status;
