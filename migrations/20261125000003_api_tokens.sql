-- Tokens for automation: a user makes one on their profile page, sees it once, and scripts send it
-- as `Authorization: Bearer …`. Only its SHA-256 is kept (a token is random enough that a fast
-- hash is as good as a slow one); the prefix identifies it on the page.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text        NOT NULL,
    token_sha256 bytea       NOT NULL UNIQUE,
    prefix       text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT api_tokens_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT api_tokens_sha256_length CHECK (octet_length(token_sha256) = 32)
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id, created_at);
