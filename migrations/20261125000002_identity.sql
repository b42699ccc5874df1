-- Who may use Rampart: people and their roles, their sign-in sessions, the attempts that limit
-- password guessing, and the append-only audit log of every change made to them.

CREATE TABLE users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- As typed at creation; unique without regard to case (GitLab usernames are case-insensitive).
    username       text        NOT NULL,
    display_name   text        NOT NULL,
    -- An Argon2id PHC string; NULL for an account that signs in only through SSO.
    password_hash  text,
    -- `issuer|subject` of the OpenID Connect account this user signs in with, if any.
    oidc_subject   text        UNIQUE,
    roles          text[]      NOT NULL DEFAULT '{}',
    active         boolean     NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    deactivated_at timestamptz,
    CONSTRAINT users_username_format CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    CONSTRAINT users_display_name_length CHECK (char_length(display_name) BETWEEN 1 AND 200),
    CONSTRAINT users_password_hash_argon2id CHECK (password_hash IS NULL OR password_hash LIKE '$argon2id$%'),
    CONSTRAINT users_roles_known CHECK (roles <@ ARRAY['viewer', 'engineer', 'release_manager', 'manager', 'admin']),
    CONSTRAINT users_deactivated_when_inactive CHECK (active = (deactivated_at IS NULL))
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

-- Failed password sign-ins, counted per account and per address to slow down guessing. Kept by
-- the typed name, so an unknown name is limited exactly like a known one.
CREATE TABLE sign_in_failures (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username_key text        NOT NULL,
    -- The client's IP address, as text.
    address      text        NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sign_in_failures_by_username ON sign_in_failures (username_key, at);
CREATE INDEX sign_in_failures_by_address ON sign_in_failures (address, at);

-- Sign-in sessions (tower-sessions' records), keyed by the SHA-256 of the id the cookie carries, so the
-- table holds nothing a browser could present. `user_id` repeats the
-- signed-in user from `data` so that a user's sessions can be found and ended together.
CREATE TABLE sessions (
    id         text        PRIMARY KEY,
    data       jsonb       NOT NULL,
    user_id    bigint      REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Every change to users and roles (and, as they arrive, to migrations, flags and settings): who,
-- what, when, the record before and after. Append-only: the database itself refuses to rewrite
-- history.
CREATE TABLE audit_log (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    -- The username who acted, or a name in brackets for Rampart itself ("[demo]", "[cli]").
    actor   text        NOT NULL,
    action  text        NOT NULL,
    -- What was changed, e.g. "user:alice".
    subject text        NOT NULL,
    before  jsonb,
    after   jsonb,
    CONSTRAINT audit_log_action_format CHECK (action ~ '^[a-z][a-z0-9_.]*$')
);
CREATE INDEX audit_log_by_subject ON audit_log (subject, at);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
