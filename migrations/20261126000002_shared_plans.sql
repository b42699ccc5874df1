-- Plans move to a table of their own, stored once however many migrations follow them: most
-- migrations run the template's plan, and reading the portfolio then reads it once rather than
-- once per row. A plan is never changed in place — an edit points the migration at another
-- plan — so a plan's row can be cached for good. `sha256` is the hash of the plan's JSON as
-- Rampart writes it.
CREATE TABLE plans (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sha256 bytea  NOT NULL UNIQUE,
    plan   jsonb  NOT NULL,
    CONSTRAINT plans_sha256_length CHECK (octet_length(sha256) = 32)
);

CREATE FUNCTION plans_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'plans are immutable: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER plans_no_update
    BEFORE UPDATE ON plans
    FOR EACH ROW EXECUTE FUNCTION plans_are_immutable();

-- The rows so far: their plans, keyed by the hash of the JSON text Postgres holds (a later write
-- of the same plan by Rampart may hash differently and get a row of its own; both are right).
INSERT INTO plans (sha256, plan)
    SELECT DISTINCT sha256(convert_to(plan::text, 'UTF8')), plan FROM migrations
    ON CONFLICT (sha256) DO NOTHING;
ALTER TABLE migrations ADD COLUMN plan_id bigint REFERENCES plans (id);
UPDATE migrations m SET plan_id = p.id
    FROM plans p WHERE p.sha256 = sha256(convert_to(m.plan::text, 'UTF8'));
ALTER TABLE migrations ALTER COLUMN plan_id SET NOT NULL;
ALTER TABLE migrations DROP COLUMN plan;
