-- The guardrail's evaluations: one row per migration per poll interval, claimed by the replica
-- that makes it (the unique key is the claim: every replica tries, exactly one wins), then filled
-- with the verdict, the evidence (queries, windows, values, thresholds, tests) and what was done.
CREATE TABLE guardrail_evaluations (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    migration_id    bigint      NOT NULL REFERENCES migrations (id),
    period_start    timestamptz NOT NULL,
    claimed_by      text        NOT NULL,
    claimed_at      timestamptz NOT NULL,
    evaluated_at    timestamptz,
    stage_key       text,
    environment     text,
    verdict         text,
    -- Failing evaluations in a row on this stage, this one included.
    failing_streak  integer     NOT NULL DEFAULT 0,
    evidence        jsonb,
    -- 'disabled', 'paused', or in observe-only mode 'would_disable', 'would_pause'.
    action          text,
    CONSTRAINT guardrail_evaluations_once_per_period UNIQUE (migration_id, period_start),
    CONSTRAINT guardrail_evaluations_verdict_known CHECK (verdict IN ('pass', 'inconclusive', 'fail')),
    CONSTRAINT guardrail_evaluations_action_known CHECK (action IN ('disabled', 'paused', 'would_disable', 'would_pause'))
);
CREATE INDEX guardrail_evaluations_latest ON guardrail_evaluations (migration_id, evaluated_at DESC);

-- Migrations whose guardrail only judges and tells, never acts.
CREATE TABLE guardrail_observe_only (
    migration_id bigint      PRIMARY KEY REFERENCES migrations (id),
    set_by       text        NOT NULL,
    set_at       timestamptz NOT NULL
);
