//! What an AWS error means, decided from its typed metadata.
//!
//! The SDK's `Display` for a service error is just "service error", which tells
//! the user nothing. [`AwsResultExt::aws_context`] turns any SDK error into an
//! [`AwsError`] that names the operation, the AWS error code and message, and
//! carries an [`ErrorClass`] that callers test instead of matching text.
//!
//! Two AWS conditions have no error code of their own (CloudFormation says
//! `ValidationError` for both "does not exist" and "No updates are to be
//! performed"): they are recognised by their documented wording in
//! [`classify`], the one place where text is matched, and tested below.

use std::fmt;

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The endpoint every AWS call goes to, when it is not AWS's own: an
/// unreachable endpoint's hint names it.
static CUSTOM_ENDPOINT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

pub fn set_custom_endpoint(endpoint: String) {
    let _ = CUSTOM_ENDPOINT.set(endpoint);
}

/// The meaning of an AWS error, for decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The resource (stack, parameter, service, log group) does not exist.
    NotFound,
    /// The caller was throttled (after the SDK's own retries).
    Throttled,
    /// CloudFormation: the update would change nothing.
    NoUpdates,
    /// Credentials are missing, expired or not allowed to do this.
    AccessDenied,
    /// The request never got an answer: connection refused, timeout, DNS.
    Unreachable,
    /// TLS refused the endpoint: its certificate is not one this machine
    /// trusts (or TLS failed otherwise). Trying again changes nothing.
    Untrusted,
    Other,
}

/// Error codes AWS uses for throttling, across the JSON and query protocols.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "PriorRequestNotComplete",
];

const NOT_FOUND_CODES: &[&str] = &[
    "ParameterNotFound",
    "ResourceNotFoundException",
    "ClusterNotFoundException",
    "ServiceNotFoundException",
    "StackNotFoundException",
    "ChangeSetNotFound",
    "InvalidInstanceID.NotFound",
    "NoSuchEntity",
];

const ACCESS_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "AuthFailure",
];

/// Classify an AWS error from its code and message.
pub fn classify(code: Option<&str>, message: Option<&str>) -> ErrorClass {
    let Some(code) = code else {
        return ErrorClass::Other;
    };
    let message = message.unwrap_or_default();
    if THROTTLING_CODES.contains(&code) {
        ErrorClass::Throttled
    } else if NOT_FOUND_CODES.contains(&code) {
        ErrorClass::NotFound
    } else if ACCESS_CODES.contains(&code) {
        ErrorClass::AccessDenied
    } else if code == "ValidationError" && message.contains("No updates are to be performed") {
        ErrorClass::NoUpdates
    } else if code == "ValidationError" && message.contains("does not exist") {
        // "Stack with id X does not exist", "ChangeSet [X] does not exist".
        ErrorClass::NotFound
    } else {
        ErrorClass::Other
    }
}

/// An AWS call that failed, with what was being done.
#[derive(Debug)]
pub struct AwsError {
    pub operation: String,
    pub class: ErrorClass,
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
    /// For errors without a service response (network, timeout).
    pub detail: Option<String>,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.operation)?;
        match (&self.code, &self.message) {
            (Some(code), Some(message)) => write!(f, "{code}: {message}")?,
            (Some(code), None) => write!(f, "{code}")?,
            (None, Some(message)) => write!(f, "{message}")?,
            (None, None) => write!(f, "{}", self.detail.as_deref().unwrap_or("unknown error"))?,
        }
        match self.class {
            ErrorClass::AccessDenied => write!(
                f,
                "\n  hint: check the credentials (AWS_PROFILE, --profile, `aws sts get-caller-identity`) and their permissions"
            )?,
            ErrorClass::Untrusted => write!(
                f,
                "\n  hint: TLS refused the endpoint{}: its certificate must chain to a root this machine trusts (the system's store, or SSL_CERT_FILE / SSL_CERT_DIR); behind a TLS-inspecting proxy, add its CA there",
                CUSTOM_ENDPOINT
                    .get()
                    .map(|endpoint| format!(" {endpoint}"))
                    .unwrap_or_default()
            )?,
            ErrorClass::Unreachable => match CUSTOM_ENDPOINT.get() {
                Some(endpoint) => write!(
                    f,
                    "\n  hint: every AWS call goes to {endpoint}: is it up? (it comes from --endpoint-url, AWS_ENDPOINT_URL or the stack file's [local] endpoint_url)"
                )?,
                None => write!(
                    f,
                    "\n  hint: check the network (a proxy, DNS, a VPN) and the region's endpoints"
                )?,
            },
            _ => {}
        }
        Ok(())
    }
}

impl std::error::Error for AwsError {}

impl AwsError {
    pub fn from_sdk<E, R>(operation: String, error: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug + 'static,
    {
        let (code, message, request_id) = match error {
            SdkError::ServiceError(context) => {
                let meta = context.err().meta();
                (
                    meta.code().map(str::to_string),
                    meta.message().map(str::to_string),
                    meta.extra("aws_request_id").map(str::to_string),
                )
            }
            _ => (None, None, None),
        };
        // The credential chain fails inside the request, as a dispatch failure;
        // it is not the network's fault and deserves its own words.
        let credentials = causes(error).any(|cause| cause.is::<CredentialsError>());
        let class = match error {
            _ if credentials => ErrorClass::AccessDenied,
            _ if is_tls_failure(error) => ErrorClass::Untrusted,
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => ErrorClass::Unreachable,
            _ => classify(code.as_deref(), message.as_deref()),
        };
        // An answer with no AWS error code is not AWS's: say what answered.
        let answered = if code.is_none() {
            error.raw_response().and_then(|raw| {
                (raw as &dyn std::any::Any)
                    .downcast_ref::<aws_smithy_runtime_api::client::orchestrator::HttpResponse>()
                    .map(describe_answer)
            })
        } else {
            None
        };
        let detail = match error {
            SdkError::ServiceError(_) if answered.is_none() => None,
            _ if answered.is_some() => answered,
            _ if credentials => Some(format!(
                "no AWS credentials could be loaded (environment, AWS_PROFILE or --profile, SSO, container or instance role); the last source tried said: {}",
                causes(error).last().map(|cause| cause.to_string()).unwrap_or_default()
            )),
            other => Some(chain_text(other)),
        };
        AwsError {
            operation,
            class,
            code,
            message,
            request_id,
            detail,
        }
    }
}

/// An HTTP answer that is not an AWS error, and what to make of it.
fn describe_answer(
    response: &aws_smithy_runtime_api::client::orchestrator::HttpResponse,
) -> String {
    format!(
        "the endpoint answered {}, not an AWS error: is it an AWS API (or an emulator of one)?",
        answer_summary(response)
    )
}

/// An HTTP answer in a few words: its status, and an HTML page's title or
/// the start of any other body, on one line.
pub fn answer_summary(
    response: &aws_smithy_runtime_api::client::orchestrator::HttpResponse,
) -> String {
    let status = response.status().as_u16();
    let body = response
        .body()
        .bytes()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let content_type = response.headers().get("content-type").unwrap_or_default();
    let one_line = |text: &str| -> String {
        let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut shown: String = words
            .chars()
            .filter(|c| !c.is_control())
            .take(120)
            .collect();
        if words.chars().count() > 120 {
            shown.push_str("...");
        }
        shown
    };
    let lower = body.to_ascii_lowercase();
    let what = if content_type.contains("html")
        || lower.trim_start().starts_with("<!doctype html")
        || lower.contains("<html")
    {
        let title = lower
            .find("<title>")
            .and_then(|start| {
                let from = start + "<title>".len();
                lower[from..]
                    .find("</title>")
                    .map(|end| one_line(&body[from..from + end]))
            })
            .filter(|title| !title.is_empty());
        match title {
            Some(title) => format!("an HTML page titled \"{title}\""),
            None => "an HTML page".to_string(),
        }
    } else if body.trim().is_empty() {
        "an empty body".to_string()
    } else {
        format!("\"{}\"", one_line(&body))
    };
    format!("HTTP {status} with {what}")
}

/// Whether TLS itself failed somewhere in an error's chain (a certificate
/// not trusted, a handshake refused). An `io::Error` hides what it wraps from
/// `source()`, so its inner error is looked at too.
pub fn is_tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    causes(error).any(|cause| {
        cause.is::<rustls::Error>()
            || cause
                .downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::get_ref)
                .is_some_and(|inner| {
                    let inner: &(dyn std::error::Error + 'static) = inner;
                    is_tls_failure(inner)
                })
    })
}

/// Whether a connection was refused somewhere in an error's chain.
pub fn is_connection_refused(error: &(dyn std::error::Error + 'static)) -> bool {
    causes(error).any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    })
}

/// An error and its sources, outermost first.
fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |cause| cause.source())
}

/// The messages of an error's chain joined with ": ", each said once (a
/// message often repeats its source's), without the SDK's Debug dump.
fn chain_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in causes(error) {
        // A connector error marked "user error" so that it is not retried
        // (src/aws/http.rs) says nothing of the cause, which follows.
        let marked = cause
            .downcast_ref::<aws_smithy_runtime_api::client::result::ConnectorError>()
            .is_some_and(aws_smithy_runtime_api::client::result::ConnectorError::is_user);
        let text = cause.to_string();
        if marked || text.is_empty() || parts.iter().any(|part| part.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

/// Add what was being done to an SDK result, as an [`AwsError`] inside an
/// `anyhow::Error` (test its meaning with [`class_of`]).
pub trait AwsResultExt<T> {
    fn aws_context<C: fmt::Display>(self, operation: impl FnOnce() -> C) -> anyhow::Result<T>;
}

impl<T, E, R> AwsResultExt<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug + 'static,
{
    fn aws_context<C: fmt::Display>(self, operation: impl FnOnce() -> C) -> anyhow::Result<T> {
        self.map_err(|error| {
            anyhow::Error::new(AwsError::from_sdk(operation().to_string(), &error))
        })
    }
}

/// The class of an `anyhow` error that holds an [`AwsError`] anywhere in its chain.
pub fn class_of(error: &anyhow::Error) -> Option<ErrorClass> {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<AwsError>())
        .map(|aws| aws.class)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_codes_of_every_protocol() {
        for code in ["Throttling", "ThrottlingException", "RequestLimitExceeded"] {
            assert_eq!(
                classify(Some(code), Some("Rate exceeded")),
                ErrorClass::Throttled
            );
        }
    }

    #[test]
    fn cloudformation_validation_errors_by_their_documented_wording() {
        assert_eq!(
            classify(
                Some("ValidationError"),
                Some("Stack with id demo-v1-network does not exist")
            ),
            ErrorClass::NotFound
        );
        assert_eq!(
            classify(
                Some("ValidationError"),
                Some("No updates are to be performed.")
            ),
            ErrorClass::NoUpdates
        );
        assert_eq!(
            classify(Some("ValidationError"), Some("Template format error")),
            ErrorClass::Other
        );
    }

    #[test]
    fn typed_not_found_and_access_codes() {
        assert_eq!(
            classify(Some("ParameterNotFound"), None),
            ErrorClass::NotFound
        );
        assert_eq!(
            classify(Some("ServiceNotFoundException"), None),
            ErrorClass::NotFound
        );
        assert_eq!(
            classify(Some("ExpiredToken"), None),
            ErrorClass::AccessDenied
        );
        assert_eq!(classify(None, Some("x")), ErrorClass::Other);
    }

    #[test]
    fn display_names_the_operation_code_and_message() {
        let error = AwsError {
            operation: "describing stack demo-v1-network".into(),
            class: ErrorClass::Throttled,
            code: Some("Throttling".into()),
            message: Some("Rate exceeded".into()),
            request_id: None,
            detail: None,
        };
        assert_eq!(
            error.to_string(),
            "describing stack demo-v1-network: Throttling: Rate exceeded"
        );
    }
}
