-- Every kill is reviewed afterwards by a release manager: what happened, and whether the kill was
-- right. A kill is its `migration.disabled` audit entry; its review is kept beside it.
CREATE TABLE kill_reviews (
    audit_id    bigint      PRIMARY KEY REFERENCES audit_log (id),
    reviewed_by text        NOT NULL,
    reviewed_at timestamptz NOT NULL,
    note        text        NOT NULL,
    CONSTRAINT kill_reviews_note_given CHECK (length(btrim(note)) > 0)
);
