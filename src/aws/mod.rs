//! AWS: one `SdkConfig` for the whole run, and one module per service.
//!
//! The configuration comes from the standard chain (environment, profiles, SSO,
//! instance roles) with, in order of precedence: `--profile` (its credentials
//! win over the environment's, see [`profile`]); `--region`, then
//! the stack file's `region`, then the chain; `--endpoint-url`, then
//! `AWS_ENDPOINT_URL`, then the stack file's `[local] endpoint_url`.

pub mod cloudformation;
pub mod cloudwatch;
pub mod ec2;
pub mod ecr;
pub mod ecs;
pub mod ecs_info;
pub mod errors;
mod http;
pub mod logs;
pub mod once;
mod profile;
pub mod registry;
mod retry_notice;
pub mod ssm;
pub mod sts;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::config::StackConfig;
use crate::error::{InputError, Problem};

pub use errors::{AwsError, AwsResultExt, ErrorClass};

/// Where the flags and the stack file point the AWS clients.
#[derive(Clone, Debug, Default)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// Where the calls went, once `Aws::load` has decided it: the command
    /// layer notes it on the failure it returns (`errors::noted_with`).
    pub destination: std::sync::OnceLock<errors::Destination>,
}

/// What is wrong with an endpoint URL (`--endpoint-url`, AWS_ENDPOINT_URL),
/// if anything. Without a scheme the SDK takes `127.0.0.1:4566` as a URL whose
/// scheme is `127.0.0.1` and fails inside the request with a dump of it.
pub fn endpoint_url_problem(url: &str) -> Option<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Some(format!(
            "{url} has no scheme: add http:// (a local emulator) or https://, as in http://{url}"
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Some(format!(
            "{url} is a {scheme}:// URL; AWS endpoints are http:// or https://"
        ));
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let port_ok = match host.rsplit_once(':') {
        Some((_, port)) if !host.ends_with(']') => port.parse::<u16>().is_ok(),
        _ => true,
    };
    if host.is_empty() || host.starts_with(':') || !port_ok {
        return Some(format!(
            "{url} names no host (and port), as in {scheme}://127.0.0.1:4566"
        ));
    }
    None
}

/// Retries fit for control-plane calls: throttling is normal on AWS, and a
/// deploy must not fail because CloudFormation said "Rate exceeded" twice.
/// Standard mode retries throttling, 5xx and transient network errors with
/// exponential backoff and jitter.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(10)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(20))
}

/// Every call gets a connect timeout and a per-attempt timeout so that a dead
/// endpoint fails fast instead of hanging.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(60))
        .operation_attempt_timeout(Duration::from_secs(60))
        .build()
}

/// The AWS clients of one run.
#[cfg(test)]
mod tests {
    use super::endpoint_url_problem;

    #[test]
    fn an_endpoint_url_needs_a_scheme_and_a_host() {
        for good in [
            "http://127.0.0.1:4566",
            "https://ecs.eu-west-1.amazonaws.com",
            "http://localhost:4566/",
            "http://[::1]:4566",
        ] {
            assert_eq!(endpoint_url_problem(good), None, "{good}");
        }
        assert_eq!(
            endpoint_url_problem("127.0.0.1:4566").as_deref(),
            Some("127.0.0.1:4566 has no scheme: add http:// (a local emulator) or https://, as in http://127.0.0.1:4566")
        );
        assert!(endpoint_url_problem("ftp://host").is_some_and(|p| p.contains("ftp://")));
        assert!(endpoint_url_problem("http://").is_some_and(|p| p.contains("no host")));
        assert!(endpoint_url_problem("http://host:99999").is_some_and(|p| p.contains("no host")));
    }
}

#[derive(Clone, Debug)]
pub struct Aws {
    config: SdkConfig,
}

impl Aws {
    /// Build the configuration for a stack (no network call is made here).
    pub async fn load(
        options: &AwsOptions,
        stack: Option<&StackConfig>,
    ) -> Result<Aws, InputError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http::shared_client())
            .retry_config(retry_config())
            .timeout_config(timeout_config());
        let region = options
            .region
            .clone()
            .or_else(|| stack.and_then(|stack| stack.region.clone()));
        if let Some(profile) = &options.profile {
            loader = loader
                .profile_name(profile)
                .credentials_provider(profile::credentials(profile, region.as_deref()).await?);
        }
        if let Some(region) = region {
            loader = loader.region(Region::new(region));
        }
        let stack_endpoint = stack
            .and_then(|stack| stack.local.as_ref())
            .and_then(|local| local.endpoint_url.clone());
        if options.endpoint_url.is_none() {
            if let Some(problem) = std::env::var("AWS_ENDPOINT_URL")
                .ok()
                .as_deref()
                .and_then(endpoint_url_problem)
            {
                return Err(InputError::one(
                    Problem::new(format!("AWS_ENDPOINT_URL: {problem}"))
                        .fix("correct AWS_ENDPOINT_URL, or unset it to call AWS"),
                ));
            }
        }
        let endpoint = match &options.endpoint_url {
            Some(url) => Some(url.clone()),
            // The loader reads AWS_ENDPOINT_URL itself; it wins over the stack file.
            None if std::env::var_os("AWS_ENDPOINT_URL").is_some() => None,
            None => stack_endpoint,
        };
        if let Some(endpoint) = &endpoint {
            tracing::debug!(%endpoint, "sending AWS calls to a custom endpoint");
            loader = loader.endpoint_url(endpoint);
        }
        let shown = endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
        let _ = options.destination.set(match shown {
            Some(shown) => errors::Destination::Custom(shown),
            None => errors::Destination::Aws,
        });
        let config = loader.load().await;
        if config.region().is_none() {
            let mut problem = Problem::new("no AWS region is set")
                .fix("set `region` in the stack file, pass --region, or set AWS_REGION");
            if let Some(stack) = stack {
                problem = problem.in_file(&stack.file);
            }
            return Err(InputError::one(problem));
        }
        Ok(Aws { config })
    }

    pub fn sdk_config(&self) -> &SdkConfig {
        &self.config
    }

    pub fn region(&self) -> &str {
        self.config.region().map(Region::as_ref).unwrap_or_default()
    }

    pub fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::from_conf(
            aws_sdk_cloudformation::config::Builder::from(&self.config)
                .interceptor(retry_notice::RetryNotice)
                .build(),
        )
    }

    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&self.config)
                .interceptor(retry_notice::RetryNotice)
                .build(),
        )
    }

    pub fn ecr(&self) -> aws_sdk_ecr::Client {
        aws_sdk_ecr::Client::from_conf(
            aws_sdk_ecr::config::Builder::from(&self.config)
                .interceptor(retry_notice::RetryNotice)
                .build(),
        )
    }

    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::config::Builder::from(&self.config)
                .interceptor(retry_notice::RetryNotice)
                .build(),
        )
    }

    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(&self.config)
                .interceptor(retry_notice::RetryNotice)
                .build(),
        )
    }

    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::from_conf(
            aws_sdk_cloudwatchlogs::config::Builder::from(&self.config)
                .interceptor(retry_notice::RetryNotice)
                .build(),
        )
    }

    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::from_conf(
            aws_sdk_cloudwatch::config::Builder::from(&self.config)
                .interceptor(retry_notice::RetryNotice)
                .build(),
        )
    }

    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&self.config)
                .interceptor(retry_notice::RetryNotice)
                .build(),
        )
    }
}
