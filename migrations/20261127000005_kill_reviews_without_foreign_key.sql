-- A kill's review points at its audit entry, but without a foreign key: with one, TRUNCATE of
-- the audit log would be refused by the key rather than by the log's own append-only trigger,
-- and the log's rows are never deleted anyway (the trigger refuses it), so the key guards
-- nothing. `db::kill_reviews::insert` checks that the entry is a kill of that migration.
ALTER TABLE kill_reviews DROP CONSTRAINT kill_reviews_audit_id_fkey;
