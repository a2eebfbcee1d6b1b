//! The database: SSH tunnel via the bastion, PostgreSQL over TLS, provisioning
//! and migrations.

pub mod known_hosts;
pub mod migrations;
pub mod postgres;
pub mod provision;
pub mod route;
pub mod ssh;
pub mod tls;
