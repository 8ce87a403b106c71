-- Instance status as update_engine means it, the retry delay after failures, and the order
-- in which what instances report is applied.

-- The order key of the request whose report (version, OEM, group, last seen) the row holds:
-- the request's time in microseconds, ties broken by arrival within a process. A write of
-- an older report never overwrites a newer one, whichever path (writer or write-behind)
-- wrote it.
ALTER TABLE instances ADD COLUMN report_seq INTEGER NOT NULL DEFAULT 0;
-- Consecutive failed attempts, and the retry delay they set: the version that failed
-- (NULL: any) is not offered again before retry_until (unix ms).
ALTER TABLE instances ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN retry_until INTEGER;
ALTER TABLE instances ADD COLUMN retry_version TEXT;

-- An event's `previousversion`, as sent.
ALTER TABLE instance_history ADD COLUMN previous_version TEXT;
