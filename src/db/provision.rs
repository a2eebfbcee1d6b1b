//! The application database and role, as the master user sees them.
//!
//! Names are checked by the stack file reader (`[a-z_][a-z0-9_]*`), so they are
//! safe to quote into DDL; the role's password is sent as a SCRAM-SHA-256
//! verifier computed here, so the clear password never reaches the server (or
//! its statement log).

use tokio_postgres::Client;

use crate::secret::Secret;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseState {
    pub encoding: String,
    pub collation: String,
    pub ctype: String,
    pub owner: String,
    /// Whether PUBLIC may still connect (the default ACL).
    pub public_can_connect: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleState {
    pub superuser: bool,
    pub create_role: bool,
    pub create_db: bool,
    pub can_login: bool,
    pub bypass_rls: bool,
}

impl RoleState {
    /// The role may do more than own its database.
    pub fn is_too_powerful(&self) -> bool {
        self.superuser || self.create_role || self.create_db || self.bypass_rls
    }
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

pub async fn database(client: &Client, name: &str) -> anyhow::Result<Option<DatabaseState>> {
    let row = client
        .query_opt(
            "SELECT pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, r.rolname,
                    d.datacl IS NULL OR d.datacl::text LIKE '%{=%' OR d.datacl::text LIKE '%,=%'
             FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = $1",
            &[&name],
        )
        .await?;
    Ok(row.map(|row| DatabaseState {
        encoding: row.get(0),
        collation: row.get(1),
        ctype: row.get(2),
        owner: row.get(3),
        public_can_connect: row.get(4),
    }))
}

pub async fn role(client: &Client, name: &str) -> anyhow::Result<Option<RoleState>> {
    let row = client
        .query_opt(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolbypassrls FROM pg_roles WHERE rolname = $1",
            &[&name],
        )
        .await?;
    Ok(row.map(|row| RoleState {
        superuser: row.get(0),
        create_role: row.get(1),
        create_db: row.get(2),
        can_login: row.get(3),
        bypass_rls: row.get(4),
    }))
}

fn verifier(password: &Secret) -> String {
    postgres_protocol::password::scram_sha_256(password.expose().as_bytes())
}

/// Create the application role: it may log in and nothing more.
pub async fn create_role(client: &Client, name: &str, password: &Secret) -> anyhow::Result<()> {
    client
        .batch_execute(&format!(
            "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD {}",
            quote(name),
            literal(&verifier(password))
        ))
        .await?;
    Ok(())
}

/// Take back any power beyond logging in, and set the password.
///
/// SUPERUSER and BYPASSRLS are named only when the role has them: PostgreSQL
/// lets only a superuser name either attribute in ALTER ROLE, even to take it
/// away, and RDS's master user is no superuser (its rds_superuser role is
/// not), so naming them always would refuse every reset on RDS.
pub async fn reset_role(client: &Client, name: &str, password: &Secret) -> anyhow::Result<()> {
    let row = client
        .query_opt(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1",
            &[&name],
        )
        .await?;
    let (superuser, bypasses_rls) = row.map_or((false, false), |row| (row.get(0), row.get(1)));
    let mut taken = String::new();
    if superuser {
        taken.push_str(" NOSUPERUSER");
    }
    if bypasses_rls {
        taken.push_str(" NOBYPASSRLS");
    }
    client
        .batch_execute(&format!(
            "ALTER ROLE {} LOGIN{taken} NOCREATEDB NOCREATEROLE PASSWORD {}",
            quote(name),
            literal(&verifier(password))
        ))
        .await?;
    Ok(())
}

/// Create the database from template0 with the given encoding and collation,
/// owned by the application role, closed to PUBLIC.
pub async fn create_database(
    client: &Client,
    name: &str,
    owner: &str,
    encoding: &str,
    collation: &str,
) -> anyhow::Result<()> {
    // On RDS the master user is not a superuser: it must be a member of the
    // owner role to create a database owned by it.
    let row = client
        .query_one(
            "SELECT rolsuper, current_user::text FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await?;
    let (superuser, current): (bool, String) = (row.get(0), row.get(1));
    if !superuser && current != owner {
        client
            .batch_execute(&format!("GRANT {} TO current_user", quote(owner)))
            .await?;
    }
    client
        .batch_execute(&format!(
            "CREATE DATABASE {} WITH TEMPLATE template0 OWNER {} ENCODING {} LC_COLLATE {} LC_CTYPE {}",
            quote(name),
            quote(owner),
            literal(encoding),
            literal(collation),
            literal(collation)
        ))
        .await?;
    close_to_public(client, name, owner).await
}

/// Only the owner (and the master user) may connect.
pub async fn close_to_public(client: &Client, name: &str, owner: &str) -> anyhow::Result<()> {
    client
        .batch_execute(&format!(
            "REVOKE ALL ON DATABASE {db} FROM PUBLIC; GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {owner}",
            db = quote(name),
            owner = quote(owner)
        ))
        .await?;
    Ok(())
}

pub async fn drop_database(client: &Client, name: &str) -> anyhow::Result<()> {
    client
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote(name)
        ))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(quote("demo"), "\"demo\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
    }

    #[test]
    fn the_password_is_sent_as_a_scram_verifier() {
        let password = Secret::new("correct horse battery staple");
        let sent = verifier(&password);
        assert!(sent.starts_with("SCRAM-SHA-256$4096:"), "{sent}");
        assert!(!sent.contains("correct horse"));
    }
}
