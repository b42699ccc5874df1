-- Every change to a migration tells the replicas listening, when its transaction commits: the
-- pages people have open follow it live, whichever replica they are served by.
CREATE FUNCTION migrations_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rampart_migration_changes', NEW.flag_name);
    RETURN NULL;
END;
$$;

CREATE TRIGGER migrations_notify_change
    AFTER INSERT OR UPDATE ON migrations
    FOR EACH ROW EXECUTE FUNCTION migrations_notify_change();
