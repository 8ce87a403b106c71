-- One row the writer writes, on its own, while its transactions fail: whether the
-- database takes writes again (a full disk freed, a database back).
CREATE TABLE writer_probe (
    id INTEGER PRIMARY KEY,
    writes BIGINT NOT NULL
);
