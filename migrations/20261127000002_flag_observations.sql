-- What the reconciler last read from each automatic backend, beside what Rampart had set: a
-- difference is drift (someone changed the flag outside Rampart). `observed` is NULL when the
-- backend could not be read, with the reason in `error`.
CREATE TABLE flag_observations (
    migration_id bigint      NOT NULL REFERENCES migrations (id),
    environment  text        NOT NULL,
    expected     text        NOT NULL,
    observed     text,
    error        text,
    observed_at  timestamptz NOT NULL,
    PRIMARY KEY (migration_id, environment),
    CONSTRAINT flag_observations_environment_known CHECK (environment IN ('development', 'staging', 'production')),
    CONSTRAINT flag_observations_read_or_why_not CHECK ((observed IS NULL) <> (error IS NULL))
);
