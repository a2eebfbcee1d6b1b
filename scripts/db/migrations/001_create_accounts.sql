CREATE TABLE accounts (
    id bigserial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    inserted_at timestamptz NOT NULL DEFAULT now()
);
