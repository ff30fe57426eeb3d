-- Leases that let one of several processes do a job: `scheduler` is held by the `regua serve`
-- whose scheduler runs the routines and plans suspension notices; the others wait until it
-- stops renewing it.
CREATE TABLE leases (
    name  TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until BIGINT NOT NULL
);
