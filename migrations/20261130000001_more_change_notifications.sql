-- More changes the replicas hear of when their transaction commits (see server/src/changes.rs):
-- what a replica keeps between requests stays in use only while it hears nothing of them.

-- A flag change going pending, applied or failed: its migration's row on the pages changes.
CREATE FUNCTION flag_changes_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rampart_migration_changes', m.flag_name)
    FROM migrations m WHERE m.id = NEW.migration_id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER flag_changes_notify_change
    AFTER INSERT OR UPDATE ON flag_changes
    FOR EACH ROW EXECUTE FUNCTION flag_changes_notify_change();

-- A session started, changed or ended, a user changed or removed, a change lock declared or
-- lifted: once per statement on the channel the trigger names, since the expired-session sweep
-- ends many at once and the replicas only need to know that something did.
CREATE FUNCTION notify_statement_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_ARGV[0], '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER sessions_notify_change
    AFTER INSERT OR UPDATE OR DELETE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION notify_statement_change('rampart_identity_changes');

CREATE TRIGGER users_notify_change
    AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION notify_statement_change('rampart_identity_changes');

CREATE TRIGGER change_locks_notify_change
    AFTER INSERT OR UPDATE OR DELETE ON change_locks
    FOR EACH STATEMENT EXECUTE FUNCTION notify_statement_change('rampart_change_lock_changes');
