-- Migrations now keep what it takes to run them: their whole identity (the template's Details and
-- Preparation fields), their own rollout plan and the stage machine's state, with a version that
-- detects concurrent edits; and beside them the stages they went through, every check-in, the flag
-- changes Rampart asked for, and (in audit_log) every change.
--
-- Rows from before had only a flag, a method and a stage key: not enough to run a rollout, and
-- not ours to invent the rest. They are kept, untouched, in migrations_before_plans, so nothing is
-- lost; add them again through the form.
ALTER TABLE migrations RENAME TO migrations_before_plans;
ALTER INDEX migrations_pkey RENAME TO migrations_before_plans_pkey;
ALTER INDEX migrations_flag_name_key RENAME TO migrations_before_plans_flag_name_key;
ALTER INDEX migrations_in_flight RENAME TO migrations_before_plans_in_flight;
ALTER SEQUENCE migrations_id_seq RENAME TO migrations_before_plans_id_seq;

CREATE TABLE migrations (
    id                 bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The identity, as typed and accepted by the domain's parsers (rollout::MigrationIdentity).
    flag_name          text        NOT NULL UNIQUE,
    grpc_service       text        NOT NULL,
    grpc_method        text        NOT NULL,
    gitaly_version     text        NOT NULL,
    gitlab_version     text        NOT NULL,
    routes             text[]      NOT NULL DEFAULT '{}',
    acceptance_issue   text        NOT NULL,
    conversation_issue bigint      NOT NULL,
    -- The username of the engineer who answers for the rollout.
    owner              text        NOT NULL,
    -- rollout::Plan and rollout::MigrationState as JSON: the domain reads and checks them.
    plan               jsonb       NOT NULL,
    state              jsonb       NOT NULL,
    -- Copies of the state's status and stage key, kept with it, for listing without reading JSON.
    status             text        NOT NULL,
    stage_key          text,
    -- One more on every change: a save that names an older version lost a race and is refused.
    version            bigint      NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL,
    created_by         text        NOT NULL,
    updated_at         timestamptz NOT NULL,
    updated_by         text        NOT NULL,
    completed_at       timestamptz,
    CONSTRAINT migrations_flag_name_format CHECK (flag_name ~ '^[a-z][a-z0-9_]*$' AND octet_length(flag_name) <= 255),
    CONSTRAINT migrations_grpc_present CHECK (grpc_service <> '' AND grpc_method <> ''),
    CONSTRAINT migrations_status_known CHECK (status IN ('not_started', 'active', 'paused', 'disabled', 'completed')),
    CONSTRAINT migrations_completed_when_completed CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
    CONSTRAINT migrations_version_positive CHECK (version > 0)
);
CREATE INDEX migrations_in_flight ON migrations (created_at) WHERE completed_at IS NULL;
CREATE INDEX migrations_completed ON migrations (completed_at) WHERE completed_at IS NOT NULL;

-- Every stage a migration entered: when, by whom, the soak it required, how and when it ended.
-- A stage entered again (after a kill) has a second row.
CREATE TABLE migration_stages (
    id                    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    migration_id          bigint      NOT NULL REFERENCES migrations (id),
    stage_index           integer     NOT NULL,
    stage_key             text        NOT NULL,
    stage_name            text        NOT NULL,
    required_soak_seconds bigint      NOT NULL,
    started_at            timestamptz NOT NULL,
    started_by            text        NOT NULL,
    ended_at              timestamptz,
    ended_by              text,
    override_by           text,
    override_reason       text,
    override_at           timestamptz,
    CONSTRAINT migration_stages_ends_after_start CHECK (ended_at IS NULL OR ended_at >= started_at),
    CONSTRAINT migration_stages_ended_by_someone CHECK ((ended_at IS NULL) = (ended_by IS NULL)),
    CONSTRAINT migration_stages_override_whole CHECK (
        (override_by IS NULL) = (override_reason IS NULL) AND (override_by IS NULL) = (override_at IS NULL))
);
-- A migration is in one stage at a time.
CREATE UNIQUE INDEX migration_stages_one_open ON migration_stages (migration_id) WHERE ended_at IS NULL;
CREATE INDEX migration_stages_by_migration ON migration_stages (migration_id, started_at);

-- People's check-ins: a checklist item ticked, or "Continue?" answered (with the why in `note`).
CREATE TABLE check_ins (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    migration_id bigint      NOT NULL REFERENCES migrations (id),
    stage_index  integer     NOT NULL,
    stage_key    text        NOT NULL,
    item         text        NOT NULL,
    outcome      text        NOT NULL,
    by_user      text        NOT NULL,
    at           timestamptz NOT NULL,
    note         text,
    CONSTRAINT check_ins_outcome_known CHECK (outcome IN ('checked', 'continue', 'stop')),
    CONSTRAINT check_ins_decision_outcome CHECK ((item = 'continue_decision') = (outcome <> 'checked'))
);
CREATE INDEX check_ins_by_migration ON check_ins (migration_id, at);

-- The "Continue?" decisions: who said go on or stop, when, and why.
CREATE VIEW stage_decisions AS
    SELECT id, migration_id, stage_index, stage_key, outcome AS decision, by_user, at, note AS reason
    FROM check_ins
    WHERE item = 'continue_decision';

-- Flag changes the stage machine decided on. Written in the same transaction as the transition
-- that decided it; a backend applies it (the manual one: a person runs the ChatOps line and
-- confirms). A newer change for the same environment supersedes a pending one.
CREATE TABLE flag_changes (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    migration_id bigint      NOT NULL REFERENCES migrations (id),
    environment  text        NOT NULL,
    -- 'true', 'false' or a percentage.
    value        text        NOT NULL,
    -- What a person would type: the ChatOps line, and the channel to type it in.
    command      text        NOT NULL,
    channel      text        NOT NULL,
    backend      text        NOT NULL,
    status       text        NOT NULL DEFAULT 'pending',
    requested_at timestamptz NOT NULL,
    requested_by text        NOT NULL,
    settled_at   timestamptz,
    settled_by   text,
    error        text,
    CONSTRAINT flag_changes_environment_known CHECK (environment IN ('development', 'staging', 'production')),
    CONSTRAINT flag_changes_status_known CHECK (status IN ('pending', 'applied', 'failed', 'superseded')),
    CONSTRAINT flag_changes_settled_when_not_pending CHECK ((status = 'pending') = (settled_at IS NULL))
);
CREATE INDEX flag_changes_pending ON flag_changes (migration_id, id) WHERE status = 'pending';
CREATE INDEX flag_changes_by_migration ON flag_changes (migration_id, requested_at);

-- A migration's audit trail is read by its subject, `migration:<flag>`, newest first.
CREATE INDEX audit_log_by_time ON audit_log (at);
