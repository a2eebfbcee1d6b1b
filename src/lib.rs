//! stackup: the whole life of a containerised Elixir/Erlang service on AWS.
//!
//! The binary (`src/main.rs`) is a thin shell over this library: `cli` parses,
//! `commands` orchestrates, and the work is done in `config`, `network`,
//! `templates`, `aws`, `release` and `db`. Nothing prints except through `ui`.

// Everything reaches the user through `ui` (stdout for data, stderr lines
// that a closed stderr cannot turn into a panic).
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod amis;
pub mod aws;
pub mod bastion;
pub mod build_inputs;
pub mod cli;
pub mod commands;
pub mod config;
pub mod costs;
pub mod db;
pub mod discovery;
pub mod endpoints;
pub mod engine_upgrade;
pub mod error;
pub mod host_roll;
pub mod images;
pub mod interrupt;
pub mod network;
pub mod ops;
pub mod release;
pub mod replacement;
pub mod rfc3339;
pub mod secret;
pub mod secrets_key;
pub mod stacks;
pub mod suggest;
pub mod templates;
pub mod ui;
pub mod validation;
