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

use crate::error::Hints;

/// Where a run's AWS calls go, as far as a failure's hints need to know:
/// an unreachable endpoint's hint names it. `Aws::load` decides it; the
/// command layer gives it to the failure it returns (`noted_with`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Destination {
    /// Not yet told (an error looked at before it left its command): hints
    /// that depend on the endpoint are left out.
    #[default]
    Unsaid,
    /// AWS's own endpoints.
    Aws,
    /// One endpoint for every call (--endpoint-url, AWS_ENDPOINT_URL or the
    /// stack file's [local] endpoint_url).
    Custom(String),
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
    pub destination: Destination,
    /// What the caller knows the operator can do about this failure (a
    /// missing KMS key: the command that creates it), said before the hints
    /// of its class.
    pub extra_hints: Vec<String>,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.message(), Hints(&self.hints()))
    }
}

impl std::error::Error for AwsError {}

impl AwsError {
    /// What failed, without the hints: the operation, the AWS error code and
    /// message (or what happened instead of an answer).
    pub fn message(&self) -> String {
        let said = match (&self.code, &self.message) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.clone(),
            (None, Some(message)) => message.clone(),
            (None, None) => self
                .detail
                .as_deref()
                .unwrap_or("unknown error")
                .to_string(),
        };
        format!("{}: {said}", self.operation)
    }

    /// What the operator can do about it: what its caller said
    /// ([`with_hint`]), then what its class says (and, for the network's
    /// failures, where the calls went).
    pub fn hints(&self) -> Vec<String> {
        let custom = match &self.destination {
            Destination::Custom(endpoint) => Some(endpoint.as_str()),
            _ => None,
        };
        let hint = match self.class {
            ErrorClass::AccessDenied => Some("check the credentials (AWS_PROFILE, --profile, `aws sts get-caller-identity`) and their permissions".to_string()),
            ErrorClass::Untrusted => Some(format!(
                "TLS refused the endpoint{}: its certificate must chain to a root this machine trusts (the system's store, or SSL_CERT_FILE / SSL_CERT_DIR); behind a TLS-inspecting proxy, add its CA there",
                custom.map(|endpoint| format!(" {endpoint}")).unwrap_or_default()
            )),
            ErrorClass::Unreachable => match &self.destination {
                Destination::Custom(endpoint) => Some(format!(
                    "every AWS call goes to {endpoint}: is it up? (it comes from --endpoint-url, AWS_ENDPOINT_URL or the stack file's [local] endpoint_url)"
                )),
                Destination::Aws => Some(
                    "check the network (a proxy, DNS, a VPN) and the region's endpoints".to_string(),
                ),
                Destination::Unsaid => None,
            },
            _ => None,
        };
        self.extra_hints.iter().cloned().chain(hint).collect()
    }

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
            destination: Destination::Unsaid,
            extra_hints: Vec::new(),
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

/// `error` (from [`AwsResultExt::aws_context`], before any context is added)
/// with one more thing the operator can do, printed on its own line after
/// the message as every hint is (ARCHITECTURE.md, "How a failure prints").
/// An error that holds no [`AwsError`] becomes a [`crate::error::Failure`]
/// saying its whole chain.
pub fn with_hint(mut error: anyhow::Error, hint: impl Into<String>) -> anyhow::Error {
    match error.downcast_mut::<AwsError>() {
        Some(aws) => {
            aws.extra_hints.push(hint.into());
            error
        }
        None => anyhow::Error::new(crate::error::Failure::new(format!("{error:#}")).hint(hint)),
    }
}

/// A command's failure told where the run's calls went, so that the hints
/// `main` prints for an AWS error in it can name the endpoint.
pub fn noted_with(mut error: anyhow::Error, destination: Option<&Destination>) -> anyhow::Error {
    if let (Some(aws), Some(destination)) = (error.downcast_mut::<AwsError>(), destination) {
        if aws.destination == Destination::Unsaid {
            aws.destination = destination.clone();
        }
    }
    error
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

    fn unreachable() -> AwsError {
        AwsError {
            operation: "describing stack demo-v1-network".into(),
            class: ErrorClass::Unreachable,
            code: None,
            message: None,
            request_id: None,
            detail: Some("Connection refused".into()),
            destination: Destination::Unsaid,
            extra_hints: Vec::new(),
        }
    }

    #[test]
    fn an_unreachable_endpoint_is_named_once_the_command_says_where_calls_went() {
        // Looked at inside a command (a warning): no guess at the endpoint.
        assert!(unreachable().hints().is_empty());
        assert_eq!(
            unreachable().to_string(),
            "describing stack demo-v1-network: Connection refused"
        );
        // Leaving the command, through its context, told where calls went.
        let error = anyhow::Error::new(unreachable()).context("reading the stacks");
        let custom = Destination::Custom("http://127.0.0.1:9".into());
        let error = noted_with(error, Some(&custom));
        let aws = error.downcast_ref::<AwsError>().expect("still an AwsError");
        assert_eq!(
            aws.message(),
            "describing stack demo-v1-network: Connection refused"
        );
        assert_eq!(
            aws.hints(),
            ["every AWS call goes to http://127.0.0.1:9: is it up? (it comes from --endpoint-url, AWS_ENDPOINT_URL or the stack file's [local] endpoint_url)"]
        );
        assert!(aws.to_string().ends_with("\n  fix: every AWS call goes to http://127.0.0.1:9: is it up? (it comes from --endpoint-url, AWS_ENDPOINT_URL or the stack file's [local] endpoint_url)"));
        let to_aws = noted_with(anyhow::Error::new(unreachable()), Some(&Destination::Aws));
        assert_eq!(
            to_aws.downcast_ref::<AwsError>().expect("aws").hints(),
            ["check the network (a proxy, DNS, a VPN) and the region's endpoints"]
        );
        // A destination already said is kept.
        let kept = noted_with(to_aws, Some(&custom));
        assert_eq!(
            kept.downcast_ref::<AwsError>().expect("aws").destination,
            Destination::Aws
        );
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
            destination: Destination::Unsaid,
            extra_hints: Vec::new(),
        };
        assert_eq!(
            error.to_string(),
            "describing stack demo-v1-network: Throttling: Rate exceeded"
        );
    }

    /// A caller's hint is the error's, on its own line, before its class's;
    /// the operation's text stays what was being done.
    #[test]
    fn a_hint_from_the_caller_is_said_on_its_own_line_before_the_class_hints() {
        let error = with_hint(
            anyhow::Error::new(unreachable()),
            "run `stackup create-stack demo` first",
        );
        let error = noted_with(error, Some(&Destination::Aws));
        let aws = error.downcast_ref::<AwsError>().expect("still an AwsError");
        assert_eq!(
            aws.message(),
            "describing stack demo-v1-network: Connection refused"
        );
        assert_eq!(
            aws.hints(),
            [
                "run `stackup create-stack demo` first",
                "check the network (a proxy, DNS, a VPN) and the region's endpoints"
            ]
        );
        // Not an AWS error: the hint is kept all the same, the chain said.
        let other = with_hint(
            anyhow::anyhow!("no answer").context("deleting the change set"),
            "delete it by hand",
        );
        assert_eq!(
            other.to_string(),
            "deleting the change set: no answer\n  fix: delete it by hand"
        );
    }
}
