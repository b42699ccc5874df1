-- Flag control: a worker applies flag-change intents to the configured backend (GitLab, Unleash,
-- or the local store), retrying transient failures with backoff. Any replica may run the worker;
-- it claims an intent with `FOR UPDATE SKIP LOCKED`, so two never apply the same one.

-- `attempts` and `next_attempt_at` drive the backoff; `error` holds the last failure (for a
-- pending change, the transient one being retried; for a failed one, why it was given up).
-- `priority` 0 is the kill switch, applied ahead of every other change.
ALTER TABLE flag_changes
    ADD COLUMN attempts        integer     NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz,
    ADD COLUMN priority        smallint    NOT NULL DEFAULT 1,
    ADD CONSTRAINT flag_changes_priority_known CHECK (priority IN (0, 1)),
    ADD CONSTRAINT flag_changes_backend_known CHECK (backend IN ('manual', 'local', 'gitlab', 'unleash'));

-- What the worker looks through: the changes a backend (not a person) applies.
CREATE INDEX flag_changes_due ON flag_changes (priority, id)
    WHERE status = 'pending' AND backend <> 'manual';

-- The local backend: flags kept in Rampart's own database (the demo's default), so a newcomer
-- sees real changes happen with nothing else installed. `value` as the Features API takes it.
CREATE TABLE local_flags (
    flag        text        NOT NULL,
    environment text        NOT NULL,
    value       text        NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (flag, environment),
    CONSTRAINT local_flags_environment_known CHECK (environment IN ('development', 'staging', 'production')),
    CONSTRAINT local_flags_value_known CHECK (value IN ('true', 'false') OR value ~ '^(100|[1-9]?[0-9])$')
);
