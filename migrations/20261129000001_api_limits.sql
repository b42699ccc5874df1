-- The REST API's per-token request counts, one row per token and minute: every replica counts
-- into the same row, so the limit holds across them.
CREATE TABLE api_request_counts (
    token_id     bigint      NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    window_start timestamptz NOT NULL,
    requests     integer     NOT NULL,
    PRIMARY KEY (token_id, window_start)
);

-- Requests sent with an Idempotency-Key: the row is the claim (the first request with a key
-- runs, a retry waits for it and gets its answer, whatever it was), kept a day.
CREATE TABLE api_idempotency_keys (
    user_id      bigint      NOT NULL REFERENCES users (id),
    key          text        NOT NULL,
    -- SHA-256 of the method, path and body: the same key with another request is refused.
    fingerprint  bytea       NOT NULL,
    claimed_at   timestamptz NOT NULL,
    -- The answer, once there is one.
    status       smallint,
    content_type text,
    location     text,
    body         bytea,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX api_idempotency_keys_claimed_at ON api_idempotency_keys (claimed_at);
