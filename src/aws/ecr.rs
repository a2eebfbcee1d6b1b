//! ECR: the registry login (GetAuthorizationToken) and the repositories the
//! images stack made (DescribeRepositories).
//!
//! ECR API reference, GetAuthorizationToken / AuthorizationData: the token is
//! base64 of `user:password` for a `docker login` at `proxyEndpoint`, valid
//! for 12 hours. The password is a [`Secret`]: it never prints.

use std::collections::BTreeMap;

use aws_sdk_ecr::operation::describe_repositories::DescribeRepositoriesError;
use aws_sdk_ecr::types::ImageIdentifier;
use aws_sdk_ecr::Client;
use base64::Engine;

use super::errors::AwsResultExt;
use crate::secret::Secret;

/// What `docker login` needs for one registry.
#[derive(Clone, Debug)]
pub struct RegistryLogin {
    /// The registry's URL, as `proxyEndpoint` gives it (`https://<account>.dkr.ecr.<region>.amazonaws.com`).
    pub endpoint: String,
    pub user: String,
    pub password: Secret,
}

impl RegistryLogin {
    /// The registry as image references name it: the endpoint without its scheme.
    pub fn registry_host(&self) -> &str {
        registry_host(&self.endpoint)
    }

    /// The `Authorization` header value the registry takes: `Basic` with
    /// base64 of `user:password` (ECR user guide, "Private registry
    /// authentication": the token is that base64 already).
    pub fn basic_authorization(&self) -> Secret {
        let pair = format!("{}:{}", self.user, self.password.expose());
        Secret::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
    }
}

/// `https://host[:port]/` to `host[:port]`.
pub fn registry_host(endpoint: &str) -> &str {
    let without_scheme = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    without_scheme.trim_end_matches('/')
}

/// The login for the caller's default registry.
pub async fn registry_login(client: &Client) -> anyhow::Result<RegistryLogin> {
    let output = client
        .get_authorization_token()
        .send()
        .await
        .aws_context(|| "asking ECR for a registry login token (GetAuthorizationToken)")?;
    let data = output.authorization_data().first().ok_or_else(|| {
        anyhow::anyhow!("ECR's GetAuthorizationToken answered no authorization data")
    })?;
    let endpoint = data
        .proxy_endpoint()
        .ok_or_else(|| anyhow::anyhow!("ECR's GetAuthorizationToken answered no proxyEndpoint"))?
        .to_string();
    let (user, password) = decode_token(data.authorization_token().unwrap_or_default())?;
    Ok(RegistryLogin {
        endpoint,
        user,
        password,
    })
}

/// base64 of `user:password`, as AuthorizationData documents it.
fn decode_token(token: &str) -> anyhow::Result<(String, Secret)> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| anyhow::anyhow!("ECR's authorization token is not base64 text"))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| anyhow::anyhow!("ECR's authorization token is not user:password"))?;
    Ok((user.to_string(), Secret::new(password)))
}

/// The URI of each named repository that exists (`<registry>/<name>`); a
/// missing one is left out.
pub async fn repository_uris(
    client: &Client,
    names: &[String],
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut uris = BTreeMap::new();
    for name in names {
        let answer = client
            .describe_repositories()
            .repository_names(name)
            .send()
            .await;
        match answer {
            Ok(output) => {
                for repository in output.repositories() {
                    if let (Some(name), Some(uri)) =
                        (repository.repository_name(), repository.repository_uri())
                    {
                        uris.insert(name.to_string(), uri.to_string());
                    }
                }
            }
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(DescribeRepositoriesError::is_repository_not_found_exception) => {}
            Err(error) => {
                return Err(error)
                    .aws_context(|| format!("describing ECR repository {name}"))
                    .map(|_: ()| uris);
            }
        }
    }
    Ok(uris)
}

/// An ECR client like `aws.ecr()`, for the registry of another region.
pub fn client_in_region(aws: &super::Aws, region: &str) -> Client {
    Client::from_conf(
        aws_sdk_ecr::config::Builder::from(aws.sdk_config())
            .region(aws_sdk_ecr::config::Region::new(region.to_string()))
            .build(),
    )
}

/// What ECR said of one image (DescribeImages with its tag or digest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageAnswer {
    Found,
    /// ImageNotFoundException or RepositoryNotFoundException: which.
    Missing(String),
    /// Another refusal (AccessDenied, say): ECR's words.
    CannotCheck(String),
}

/// Whether `repository` of the registry `registry_id` (the caller's when
/// `None`) holds the image with `tag` or `digest`.
pub async fn image_exists(
    client: &Client,
    registry_id: Option<&str>,
    repository: &str,
    tag: Option<&str>,
    digest: Option<&str>,
) -> anyhow::Result<ImageAnswer> {
    let identifier = ImageIdentifier::builder()
        .set_image_tag(tag.map(str::to_string))
        .set_image_digest(digest.map(str::to_string))
        .build();
    let answer = client
        .describe_images()
        .set_registry_id(registry_id.map(str::to_string))
        .repository_name(repository)
        .image_ids(identifier)
        .send()
        .await;
    match answer {
        Ok(output) if !output.image_details().is_empty() => Ok(ImageAnswer::Found),
        Ok(_) => Ok(ImageAnswer::Missing(format!(
            "repository {repository} holds no such image"
        ))),
        Err(error) => match error.as_service_error() {
            Some(service) if service.is_image_not_found_exception() => Ok(ImageAnswer::Missing(
                format!("repository {repository} holds no such image"),
            )),
            Some(service) if service.is_repository_not_found_exception() => Ok(
                ImageAnswer::Missing(format!("ECR has no repository {repository}")),
            ),
            Some(service) if service.meta().code().is_some() => {
                Ok(ImageAnswer::CannotCheck(format!(
                    "ECR refused DescribeImages: {}: {}",
                    service.meta().code().unwrap_or_default(),
                    service.meta().message().unwrap_or_default()
                )))
            }
            _ => Err(error)
                .aws_context(|| format!("looking up an image of ECR repository {repository}"))
                .map(|_: ()| ImageAnswer::Found),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_decodes_to_user_and_password() {
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:pass:word");
        let (user, password) = decode_token(&token).expect("decodes");
        assert_eq!(user, "AWS");
        assert_eq!(password.expose(), "pass:word");
        assert!(decode_token("not base64!").is_err());
        let no_colon = base64::engine::general_purpose::STANDARD.encode("AWS");
        assert!(decode_token(&no_colon).is_err());
    }

    #[test]
    fn the_basic_authorization_is_the_token_again_and_never_shows() {
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:pass:word");
        let (user, password) = decode_token(&token).expect("decodes");
        let login = RegistryLogin {
            endpoint: "https://123456789012.dkr.ecr.us-east-1.amazonaws.com".into(),
            user,
            password,
        };
        let authorization = login.basic_authorization();
        assert_eq!(authorization.expose(), format!("Basic {token}"));
        assert!(!format!("{authorization} {authorization:?} {login:?}").contains(&token));
    }

    #[test]
    fn registry_host_drops_scheme_and_slash() {
        assert_eq!(
            registry_host("https://123456789012.dkr.ecr.us-east-1.amazonaws.com"),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com"
        );
        assert_eq!(registry_host("http://127.0.0.1:5050/"), "127.0.0.1:5050");
        assert_eq!(registry_host("127.0.0.1:5050"), "127.0.0.1:5050");
    }
}
