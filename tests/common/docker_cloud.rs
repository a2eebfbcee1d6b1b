//! The local cloud's Docker engine and registry as the build tests see them
//! (read from its state.json; STACKUP_LOCAL_CLOUD_STATE may name another
//! local cloud's), and the small git and naming helpers those tests share.
//! Included with `#[path]` by the build tests, beside `mod common`.
#![allow(dead_code)] // each test binary uses a part

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub struct Cloud {
    pub moto: String,
    pub docker_host: String,
    pub registry: String,
    pub user: String,
    pub password: String,
}

pub fn cloud() -> Cloud {
    let path = std::env::var_os("STACKUP_LOCAL_CLOUD_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::common::repo_root().join(".local-cloud/state.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; start the local cloud with scripts/local-cloud up",
            path.display()
        )
    });
    let state: Value = serde_json::from_str(&text).expect("state.json is JSON");
    let registry = state.get("registry").unwrap_or_else(|| {
        panic!("{} has no registry: the local cloud predates its Docker engine and registry; run scripts/local-cloud down && scripts/local-cloud up", path.display())
    });
    Cloud {
        // STACKUP_TEST_MOTO_ENDPOINT (a moto launcher of one's own) honoured.
        moto: super::common::LocalCloud::load().moto_endpoint(),
        docker_host: state["docker"]["host"]
            .as_str()
            .expect("docker host")
            .to_string(),
        registry: registry["address"]
            .as_str()
            .expect("registry address")
            .to_string(),
        user: registry["user"]
            .as_str()
            .expect("registry user")
            .to_string(),
        password: std::fs::read_to_string(
            registry["password_file"].as_str().expect("password file"),
        )
        .expect("registry password")
        .trim()
        .to_string(),
    }
}

/// `git -C dir args...` as a test user; its stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A name no other run of these tests uses at the same time.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .subsec_nanos();
    format!("{prefix}{nanos:x}{}", std::process::id())
}
