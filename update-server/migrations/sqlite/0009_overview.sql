-- The overview and the errors page read the history through these: the failed attempts
-- (3/0) since a time, and a group's latest grant. Partial indexes: only those rows.
CREATE INDEX instance_history_failures ON instance_history (at)
    WHERE event_type = 3 AND event_result = 0;
CREATE INDEX instance_history_grants ON instance_history (app_id, group_id, at)
    WHERE kind = 'grant';
