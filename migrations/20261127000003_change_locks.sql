-- A change lock (an incident, a freeze): while one holds, no flag's exposure is raised; turning
-- flags off is always allowed. Declared and lifted by admins; kept for the record.
CREATE TABLE change_locks (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reason      text        NOT NULL,
    until       timestamptz NOT NULL,
    declared_by text        NOT NULL,
    declared_at timestamptz NOT NULL,
    lifted_by   text,
    lifted_at   timestamptz,
    CONSTRAINT change_locks_reason_given CHECK (length(btrim(reason)) > 0),
    CONSTRAINT change_locks_end_after_start CHECK (until > declared_at),
    CONSTRAINT change_locks_lifted_by_whom CHECK ((lifted_by IS NULL) = (lifted_at IS NULL))
);
CREATE INDEX change_locks_open ON change_locks (until) WHERE lifted_at IS NULL;
