//! `--profile`: a named profile of the shared config and credentials files.
//!
//! The flag names the profile to use, so its credentials win over keys in the
//! environment (as the aws CLI's `--profile` does); the default chain alone
//! would take `AWS_ACCESS_KEY_ID` first and never read the profile. A profile
//! that neither file holds is bad input, found before any call.

use std::borrow::Cow;
use std::path::PathBuf;

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::Region;
use aws_runtime::env_config::file::EnvConfigFiles as ProfileFiles;
use aws_types::os_shim_internal::{Env, Fs};

use crate::error::{InputError, Problem};

/// The keys of which a profile needs one to give credentials (the SDK's
/// profile provider: static keys, an assumed role, web identity, SSO, a
/// process).
const CREDENTIAL_KEYS: [&str; 7] = [
    "aws_access_key_id",
    "role_arn",
    "credential_source",
    "web_identity_token_file",
    "sso_session",
    "sso_start_url",
    "credential_process",
];

/// The credentials of profile `name`, once the files are known to hold it.
/// `region` is where a profile that assumes a role (or signs in with SSO)
/// calls STS; without it the profile's own `region`, then AWS_REGION. The
/// provider shares the run's HTTP client; its STS call follows
/// AWS_ENDPOINT_URL and the profile's own endpoint settings.
pub async fn credentials(
    name: &str,
    region: Option<&str>,
) -> Result<ProfileFileCredentialsProvider, InputError> {
    let files = ProfileFiles::default();
    let loaded = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        &files,
        Some(Cow::Owned(name.to_string())),
    )
    .await;
    let read = files_read().join(" and ");
    match loaded {
        Ok(profiles) if profiles.get_profile(name).is_some() => {
            let gives_credentials = profiles.get_profile(name).is_some_and(|profile| {
                CREDENTIAL_KEYS
                    .iter()
                    .any(|key| profile.get(key).is_some_and(|value| !value.is_empty()))
            });
            if !gives_credentials {
                return Err(InputError::one(
                    Problem::new(format!(
                        "--profile {name}: the profile (in {read}) gives no credentials: it has none of {}",
                        CREDENTIAL_KEYS.join(", ")
                    ))
                    .fix(format!(
                        "add its keys (`aws configure --profile {name}`), a role to assume (role_arn with source_profile or credential_source), or an SSO sign-in (`aws configure sso --profile {name}`)"
                    )),
                ));
            }
            let region = region
                .map(str::to_string)
                .or_else(|| {
                    profiles
                        .get_profile(name)
                        .and_then(|profile| profile.get("region"))
                        .map(str::to_string)
                })
                .or_else(|| std::env::var("AWS_REGION").ok())
                .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
                .map(Region::new);
            let provider_config = ProviderConfig::default()
                .with_region(region)
                .with_http_client(super::http::shared_client());
            Ok(ProfileFileCredentialsProvider::builder()
                .configure(&provider_config)
                .profile_name(name)
                .build())
        }
        Ok(profiles) => {
            let mut known: Vec<&str> = profiles.profiles().collect();
            known.sort_unstable();
            let known = if known.is_empty() {
                "they hold no profile".to_string()
            } else {
                format!("they hold: {}", known.join(", "))
            };
            Err(InputError::one(
                Problem::new(format!("--profile {name}: no such profile in {read}; {known}"))
                    .fix(format!(
                        "add [profile {name}] to the config file (`aws configure --profile {name}`), or name one of the profiles it holds"
                    )),
            ))
        }
        Err(error) => Err(InputError::one(
            Problem::new(format!("--profile {name}: cannot read {read}: {error}"))
                .fix("fix the file, or set AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE to the files to read"),
        )),
    }
}

/// The two files a profile is read from, as the SDK finds them: the
/// environment's AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE, else the
/// home folder's `.aws/config` and `.aws/credentials`.
fn files_read() -> Vec<String> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    [
        ("AWS_CONFIG_FILE", ".aws/config"),
        ("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"),
    ]
    .into_iter()
    .map(|(variable, default)| match std::env::var_os(variable) {
        Some(path) => PathBuf::from(path).display().to_string(),
        None => match &home {
            Some(home) => home.join(default).display().to_string(),
            None => format!("~/{default}"),
        },
    })
    .collect()
}
