//! Calls with a side effect and no idempotency token, made so that the effect
//! happens once.
//!
//! ECS RegisterTaskDefinition and SSM PutParameter (with Overwrite) take no
//! client token. When such a call's answer is lost (a reset connection, a
//! timeout, a 500 after the work was done), the SDK's own retry would send it
//! again and make a second revision or a second parameter version. So these
//! calls go out with the SDK's retries turned off, and after a failure that may
//! have done the work, stackup first looks whether it was done (a revision with
//! this release's tags, a parameter already holding this value) before sending
//! again, with the same backoff the SDK uses ([`super::retry_config`]).

use std::future::Future;
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::errors::{classify, AwsError, ErrorClass};

/// Attempts in all, as the SDK's standard retries of every other call.
const ATTEMPTS: u32 = 10;
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// What one attempt came to.
pub enum Attempt<T> {
    Done(T),
    /// A failure after which the call may be sent again (throttling, 5xx, no
    /// answer); the work may or may not have been done.
    Retry(anyhow::Error),
    Fail(anyhow::Error),
}

/// Whether an SDK failure may be retried: the request was throttled, failed on
/// the server's side or got no (complete) answer. The others (a 4xx, a request
/// that could not be built) would fail again the same way.
pub fn retryable<E>(error: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(context) => {
            context.raw().status().is_server_error()
                || classify(context.err().code(), context.err().message()) == ErrorClass::Throttled
        }
        _ => false,
    }
}

/// One SDK call's result as an [`Attempt`], its error saying what was being done.
pub fn attempt<T, E>(
    result: Result<T, SdkError<E, HttpResponse>>,
    operation: impl FnOnce() -> String,
) -> Attempt<T>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(output) => Attempt::Done(output),
        Err(error) => {
            let retry = retryable(&error);
            let error = anyhow::Error::new(AwsError::from_sdk(operation(), &error));
            if retry {
                Attempt::Retry(error)
            } else {
                Attempt::Fail(error)
            }
        }
    }
}

/// Send with `send` until it is done, at most [`ATTEMPTS`] times; after each
/// retryable failure, `done` says whether the work was done all the same (and
/// its result), in which case nothing is sent again.
pub async fn at_most_once<T, S, SF, D, DF>(send: S, done: D) -> anyhow::Result<T>
where
    S: FnMut() -> SF,
    SF: Future<Output = Attempt<T>>,
    D: FnMut() -> DF,
    DF: Future<Output = anyhow::Result<Option<T>>>,
{
    attempts(INITIAL_BACKOFF, send, done).await
}

async fn attempts<T, S, SF, D, DF>(
    initial_backoff: Duration,
    mut send: S,
    mut done: D,
) -> anyhow::Result<T>
where
    S: FnMut() -> SF,
    SF: Future<Output = Attempt<T>>,
    D: FnMut() -> DF,
    DF: Future<Output = anyhow::Result<Option<T>>>,
{
    let mut backoff = initial_backoff;
    let mut attempt = 1;
    loop {
        let error = match send().await {
            Attempt::Done(value) => return Ok(value),
            Attempt::Fail(error) => return Err(error),
            Attempt::Retry(error) => error,
        };
        tracing::debug!(attempt, "{error:#}: checking whether the call took effect");
        if let Some(value) = done().await? {
            tracing::debug!(attempt, "it did: not sending it again");
            return Ok(value);
        }
        if attempt == ATTEMPTS {
            return Err(error);
        }
        // full jitter, as the SDK's standard retries
        let pause = backoff.mul_f64(rand::random::<f64>());
        tokio::time::sleep(pause).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn run<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    #[test]
    fn a_lost_answer_is_found_and_not_sent_again() {
        let sent = Cell::new(0);
        let result = run(at_most_once(
            || {
                sent.set(sent.get() + 1);
                async { Attempt::<u32>::Retry(anyhow::anyhow!("connection reset")) }
            },
            || async { Ok(Some(7)) },
        ));
        assert_eq!(result.expect("found"), 7);
        assert_eq!(sent.get(), 1);
    }

    #[test]
    fn a_failure_that_did_nothing_is_sent_again() {
        let sent = Cell::new(0);
        let result = run(at_most_once(
            || {
                sent.set(sent.get() + 1);
                let attempt = if sent.get() < 3 {
                    Attempt::Retry(anyhow::anyhow!("throttled"))
                } else {
                    Attempt::Done(sent.get())
                };
                async { attempt }
            },
            || async { Ok(None) },
        ));
        assert_eq!(result.expect("done"), 3);
    }

    #[test]
    fn a_final_failure_is_not_retried_and_attempts_are_bounded() {
        let sent = Cell::new(0);
        let result = run(at_most_once(
            || {
                sent.set(sent.get() + 1);
                async { Attempt::<u32>::Fail(anyhow::anyhow!("bad request")) }
            },
            || async { Ok(None) },
        ));
        assert!(result.is_err());
        assert_eq!(sent.get(), 1);

        let sent = Cell::new(0);
        let result = run(attempts(
            Duration::from_millis(1),
            || {
                sent.set(sent.get() + 1);
                async { Attempt::<u32>::Retry(anyhow::anyhow!("503")) }
            },
            || async { Ok(None) },
        ));
        assert!(result.is_err());
        assert_eq!(sent.get(), ATTEMPTS);
    }
}
