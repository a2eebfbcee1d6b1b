//! Asking a container registry whether it holds a manifest: `HEAD
//! /v2/<name>/manifests/<reference>` (OCI Distribution Specification,
//! "Checking if content exists in the registry"), over the SDK's HTTP stack
//! (`aws/http.rs`: the same TLS, roots and proxy settings).
//!
//! A registry that answers 401 with a `Bearer` challenge is asked for an
//! anonymous token at its realm, with the challenge's service and scope
//! (Docker "Token Authentication Specification"), as `docker pull` does for
//! public images; one that wants credentials stackup does not have (Basic,
//! or a refused token) cannot be checked, and says so.

use std::time::Duration;

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;

use crate::secret::Secret;

/// The manifest media types asked for: Docker's image and list, OCI's
/// manifest and index (without them a registry may answer with the old
/// schema 1, or 404 for a multi-platform image).
const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// How long one request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What a registry said of one manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestAnswer {
    /// It holds it (with its digest, when the registry gave one).
    Found(Option<String>),
    /// It does not (404: no such repository, tag or digest).
    Missing,
    /// It could not say: why, in words that fit after "cannot check".
    CannotCheck(String),
}

/// Whether the registry at `host` (`ghcr.io`, `localhost:5000`) holds
/// `repository` at `reference` (a tag or `sha256:` digest).
pub async fn manifest(host: &str, repository: &str, reference: &str) -> ManifestAnswer {
    let base = format!("{}://{host}", scheme_for(host));
    let url = format!("{base}/v2/{repository}/manifests/{reference}");
    let first = match send("HEAD", &url, None).await {
        Ok(response) => response,
        Err(reason) => {
            return ManifestAnswer::CannotCheck(format!("{host} cannot be reached ({reason})"))
        }
    };
    let response = match first.status().as_u16() {
        401 => {
            let challenge = first
                .headers()
                .get("www-authenticate")
                .unwrap_or_default()
                .to_string();
            let Some(token) = anonymous_token(&challenge).await else {
                return ManifestAnswer::CannotCheck(format!(
                    "{host} needs credentials to read {repository}, which stackup does not have"
                ));
            };
            match send("HEAD", &url, Some(&format!("Bearer {token}"))).await {
                Ok(response) => response,
                Err(reason) => {
                    return ManifestAnswer::CannotCheck(format!(
                        "{host} cannot be reached ({reason})"
                    ))
                }
            }
        }
        _ => first,
    };
    answer_of(host, repository, &response)
}

/// As [`manifest`], with credentials the registry takes (`Authorization:
/// Basic`, as ECR's registry takes its login token: ECR user guide, "Private
/// registry authentication").
pub async fn manifest_with(
    host: &str,
    repository: &str,
    reference: &str,
    authorization: &Secret,
) -> ManifestAnswer {
    let url = format!(
        "{}://{host}/v2/{repository}/manifests/{reference}",
        scheme_for(host)
    );
    match send("HEAD", &url, Some(authorization.expose())).await {
        Ok(response) => answer_of(host, repository, &response),
        Err(reason) => ManifestAnswer::CannotCheck(format!("{host} cannot be reached ({reason})")),
    }
}

/// Give the manifest `digest` of `repository` the tag `tag` too: its bytes
/// read back and put under the tag (OCI Distribution Specification,
/// "Pulling manifests", "Pushing manifests"; ECR's registry needs
/// `ecr:BatchGetImage` and `ecr:PutImage` for them). No layer moves.
pub async fn add_tag(
    host: &str,
    repository: &str,
    digest: &str,
    tag: &str,
    authorization: &Secret,
) -> Result<(), String> {
    let base = format!("{}://{host}/v2/{repository}/manifests", scheme_for(host));
    let read = send(
        "GET",
        &format!("{base}/{digest}"),
        Some(authorization.expose()),
    )
    .await?;
    if !read.status().is_success() {
        return Err(format!(
            "reading manifest {digest} of {repository} answered HTTP {}",
            read.status().as_u16()
        ));
    }
    let media_type = read
        .headers()
        .get("content-type")
        .unwrap_or("application/vnd.docker.distribution.manifest.v2+json")
        .to_string();
    let bytes = ByteStream::new(read.into_body())
        .collect()
        .await
        .map_err(|error| error.to_string())?
        .into_bytes()
        .to_vec();
    let written = send_body(
        "PUT",
        &format!("{base}/{tag}"),
        Some(authorization.expose()),
        Some((&media_type, bytes)),
    )
    .await?;
    if written.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "tagging manifest {digest} of {repository} as {tag} answered HTTP {}",
            written.status().as_u16()
        ))
    }
}

fn answer_of(host: &str, repository: &str, response: &HttpResponse) -> ManifestAnswer {
    match response.status().as_u16() {
        200..=299 => ManifestAnswer::Found(
            response
                .headers()
                .get("docker-content-digest")
                .map(str::to_string),
        ),
        404 => ManifestAnswer::Missing,
        401 | 403 => ManifestAnswer::CannotCheck(format!(
            "{host} needs credentials to read {repository}, which stackup does not have"
        )),
        status => ManifestAnswer::CannotCheck(format!("{host} answered HTTP {status}")),
    }
}

/// Plain HTTP for a registry on this machine (Docker itself reaches
/// `localhost` and 127.0.0.0/8 without TLS), HTTPS for every other.
fn scheme_for(host: &str) -> &'static str {
    let name = host
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(name, _)| name);
    let loopback = name == "localhost"
        || name == "[::1]"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|address| address.is_loopback());
    if loopback {
        "http"
    } else {
        "https"
    }
}

/// The parameters of a `Bearer realm="...",service="...",scope="..."`
/// challenge; `None` for any other scheme.
fn bearer_challenge(challenge: &str) -> Option<Vec<(String, String)>> {
    let rest = challenge.trim().strip_prefix("Bearer ")?;
    let mut parameters = Vec::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        parameters.push((name.trim().to_ascii_lowercase(), value.to_string()));
        rest = remainder.trim_start_matches([',', ' ']);
    }
    Some(parameters)
}

/// An anonymous token for the challenge's scope, if the realm gives one.
async fn anonymous_token(challenge: &str) -> Option<String> {
    let parameters = bearer_challenge(challenge)?;
    let realm = parameters
        .iter()
        .find(|(name, _)| name == "realm")
        .map(|(_, value)| value.clone())?;
    let query: Vec<String> = parameters
        .iter()
        .filter(|(name, _)| name == "service" || name == "scope")
        .map(|(name, value)| format!("{name}={}", encode_query(value)))
        .collect();
    let separator = if realm.contains('?') { '&' } else { '?' };
    let url = format!("{realm}{separator}{}", query.join("&"));
    let response = send("GET", &url, None).await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let body = ByteStream::new(response.into_body())
        .collect()
        .await
        .ok()?
        .into_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&body).ok()?;
    answer
        .get("token")
        .or_else(|| answer.get("access_token"))
        .and_then(|token| token.as_str())
        .map(str::to_string)
}

fn encode_query(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn send(
    method: &str,
    url: &str,
    authorization: Option<&str>,
) -> Result<HttpResponse, String> {
    send_body(method, url, authorization, None).await
}

/// A request with `body` (its content type and bytes), if any.
async fn send_body(
    method: &str,
    url: &str,
    authorization: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
) -> Result<HttpResponse, String> {
    let https = url.starts_with("https://");
    let builder = Connector::builder().proxy_config(ProxyConfig::from_env());
    let connector = if https {
        builder
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .build()
    } else {
        builder.build_http()
    };
    let (content_type, bytes) = match body {
        Some((content_type, bytes)) => (Some(content_type), SdkBody::from(bytes)),
        None => (None, SdkBody::empty()),
    };
    let mut request = HttpRequest::new(bytes);
    if let Some(content_type) = content_type {
        request
            .headers_mut()
            .insert("content-type", content_type.to_string());
    }
    request
        .set_method(method)
        .map_err(|error| error.to_string())?;
    request.set_uri(url).map_err(|error| error.to_string())?;
    request.headers_mut().insert("accept", ACCEPT);
    request
        .headers_mut()
        .insert("user-agent", concat!("stackup/", env!("CARGO_PKG_VERSION")));
    if let Some(authorization) = authorization {
        request
            .headers_mut()
            .insert("authorization", authorization.to_string());
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, connector.call(request)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(error)) => Err(source_chain(&error)),
        Err(_) => Err(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())),
    }
}

/// An error and its causes, as one line.
fn source_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_plain_http() {
        assert_eq!(scheme_for("127.0.0.1:5050"), "http");
        assert_eq!(scheme_for("localhost:5000"), "http");
        assert_eq!(scheme_for("localhost"), "http");
        assert_eq!(scheme_for("ghcr.io"), "https");
        assert_eq!(scheme_for("registry.example.com:5000"), "https");
        assert_eq!(scheme_for("10.0.0.1:5000"), "https");
    }

    #[test]
    fn a_bearer_challenge_gives_its_parameters() {
        let parameters = bearer_challenge(
            r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:example/demo:pull""#,
        )
        .expect("bearer");
        assert_eq!(
            parameters,
            vec![
                ("realm".to_string(), "https://ghcr.io/token".to_string()),
                ("service".to_string(), "ghcr.io".to_string()),
                (
                    "scope".to_string(),
                    "repository:example/demo:pull".to_string()
                ),
            ]
        );
        assert_eq!(bearer_challenge(r#"Basic realm="Registry Realm""#), None);
        assert_eq!(
            encode_query("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
    }
}
