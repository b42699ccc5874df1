-- Chat notifications: an outbox written in the transaction of the change it tells of, delivered
-- by whichever replica claims it, retried with backoff, and kept with how it went.
CREATE TABLE notifications (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    environment     text        NOT NULL,
    text            text        NOT NULL,
    created_at      timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    delivered_at    timestamptz,
    -- Given up on (or nowhere to send it), with why.
    dropped_at      timestamptz,
    last_error      text
);
CREATE INDEX notifications_due ON notifications (next_attempt_at)
    WHERE delivered_at IS NULL AND dropped_at IS NULL;
