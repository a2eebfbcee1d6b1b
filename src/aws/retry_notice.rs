//! Retries made visible. The SDK retries throttling, 5xx answers and
//! transient network errors by itself (up to [`super::retry_config`]'s
//! attempts, some 30 s in all); without a word, a failing endpoint looks like a
//! hung command. Each failed attempt that will be retried is logged: the first
//! at debug (`-v`: throttling blips are normal), later ones as warnings, with
//! what answered, so the operator sees it retrying and why.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::errors::answer_summary;

#[derive(Debug, Default)]
pub struct RetryNotice;

impl Intercept for RetryNotice {
    fn name(&self) -> &'static str {
        "RetryNotice"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !matches!(context.output_or_error(), Some(Err(_))) {
            return Ok(());
        }
        let answer = match context.response() {
            Some(response) => {
                let status = response.status().as_u16();
                let throttled = status == 400
                    && response
                        .body()
                        .bytes()
                        .is_some_and(|body| String::from_utf8_lossy(body).contains("Throttl"));
                if !(status >= 500 || status == 429 || throttled) {
                    // Not retried (a missing resource, a refusal): the caller decides.
                    return Ok(());
                }
                answer_summary(response)
            }
            None => "no answer (the connection failed or timed out)".to_string(),
        };
        let attempt = cfg
            .load::<RequestAttempts>()
            .map_or(1, RequestAttempts::attempts);
        let limit = super::retry_config().max_attempts();
        if attempt >= limit {
            // The last one: the error itself says what answered.
            return Ok(());
        }
        let operation = cfg
            .load::<Metadata>()
            .map(|metadata| format!("{} {}", metadata.service(), metadata.name()))
            .unwrap_or_else(|| "an AWS call".to_string());
        if attempt == 1 {
            tracing::debug!("{operation}: attempt 1 of {limit} got {answer}; retrying");
        } else {
            tracing::warn!("{operation}: attempt {attempt} of {limit} got {answer}; retrying");
        }
        Ok(())
    }
}
