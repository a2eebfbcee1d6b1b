-- Seeds run after every migration; they must be idempotent.
INSERT INTO accounts (email) VALUES ('admin@example.com') ON CONFLICT (email) DO NOTHING;
