-- One chat notification per overdue interval of a stage's check cadence: the key is the claim,
-- so the replicas together send each once.
CREATE TABLE overdue_notices (
    migration_id     bigint      NOT NULL REFERENCES migrations (id),
    stage_started_at timestamptz NOT NULL,
    -- How many whole cadence intervals late the check was when noticed: 0, 1, 2, …
    period           integer     NOT NULL,
    noticed_at       timestamptz NOT NULL,
    PRIMARY KEY (migration_id, stage_started_at, period)
);
