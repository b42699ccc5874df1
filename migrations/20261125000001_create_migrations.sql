-- Migrations of gRPC methods to a new implementation, each behind a feature flag and rolled out
-- stage by stage. The rollout plan, check-ins and audit trail come in later migrations.
CREATE TABLE migrations (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flag_name        text        NOT NULL UNIQUE,
    grpc_service     text        NOT NULL,
    grpc_method      text        NOT NULL,
    -- Where the rollout stands: the key of a stage of its plan (the template's default plan until
    -- plans are stored per migration), e.g. 'staging' or 'production_5'.
    stage            text        NOT NULL DEFAULT 'preparation',
    stage_started_at timestamptz NOT NULL,
    started_at       timestamptz NOT NULL,
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- GitLab's rules for feature flag names; the domain parses them, this keeps bad rows out anyway.
    CONSTRAINT migrations_flag_name_format CHECK (flag_name ~ '^[a-z][a-z0-9_]*$' AND octet_length(flag_name) <= 255),
    CONSTRAINT migrations_grpc_service_present CHECK (grpc_service <> ''),
    CONSTRAINT migrations_grpc_method_present CHECK (grpc_method <> ''),
    CONSTRAINT migrations_stage_format CHECK (stage ~ '^[a-z][a-z0-9_]*$'),
    CONSTRAINT migrations_stage_after_start CHECK (stage_started_at >= started_at)
);

-- The portfolio lists what is still in flight.
CREATE INDEX migrations_in_flight ON migrations (started_at) WHERE completed_at IS NULL;
