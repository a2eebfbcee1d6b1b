-- Seeds run after new migrations and whenever this file changes (update-resources
-- compares its checksum); a run with neither skips them. They must be idempotent.
INSERT INTO accounts (email) VALUES ('admin@example.com') ON CONFLICT (email) DO NOTHING;
