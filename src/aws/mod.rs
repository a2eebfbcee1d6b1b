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
pub mod ecs;
pub mod errors;
mod http;
pub mod logs;
pub mod once;
mod profile;
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
        if let Some(profile) = &options.profile {
            loader = loader
                .profile_name(profile)
                .credentials_provider(profile::credentials(profile).await?);
        }
        let region = options
            .region
            .clone()
            .or_else(|| stack.and_then(|stack| stack.region.clone()));
        if let Some(region) = region {
            loader = loader.region(Region::new(region));
        }
        let stack_endpoint = stack
            .and_then(|stack| stack.local.as_ref())
            .and_then(|local| local.endpoint_url.clone());
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
        if let Some(shown) = shown {
            errors::set_custom_endpoint(shown);
        }
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
        aws_sdk_cloudformation::Client::new(&self.config)
    }

    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.config)
    }

    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::new(&self.config)
    }

    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.config)
    }

    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.config)
    }

    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.config)
    }

    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.config)
    }
}
