//! Before a release registers anything: does every image given with
//! `--image` exist? A task whose image cannot be pulled never starts (ECS
//! developer guide, "CannotPullContainer task errors"), and the rollout would
//! only fail after the revision is registered and the service updated.
//!
//! An ECR image (`<account>.dkr.ecr.<region>.amazonaws.com/...`, or a
//! repository of the images stack) is looked up with ECR's DescribeImages;
//! any other with its registry's manifest (`aws::registry`). A missing image
//! or tag is bad input (exit 2); a registry that cannot say (credentials
//! stackup does not have, no network) is a warning, and the release goes on.

use std::collections::BTreeMap;

use futures_util::future::join_all;

use crate::aws::ecr::{self, ImageAnswer};
use crate::aws::registry::{self, ManifestAnswer};
use crate::aws::Aws;
use crate::config::StackConfig;
use crate::error::{InputError, Problem};
use crate::images;
use crate::release::image_reference;

/// Where an image is looked up.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Lookup {
    /// ECR's API: the registry (account) and region, when the host names them.
    Ecr {
        registry_id: Option<String>,
        region: Option<String>,
        repository: String,
    },
    /// The registry's HTTP API at `host`.
    Registry { host: String, repository: String },
}

/// One image to look up.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Wanted {
    lookup: Lookup,
    /// The tag or digest (`latest` when the reference names neither, as
    /// Docker and the ECS agent pull it).
    reference: String,
}

/// `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`: the account and
/// region of an ECR registry host (ECR user guide, "Private registry
/// concepts").
fn ecr_host(host: &str) -> Option<(String, String)> {
    let (account, rest) = host.split_once('.')?;
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let rest = rest
        .strip_prefix("dkr.ecr.")
        .or_else(|| rest.strip_prefix("dkr.ecr-fips."))?;
    let region = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))?;
    (!region.is_empty() && !region.contains('.')).then(|| (account.to_string(), region.to_string()))
}

/// Where and what to look up for `image`; `images_registry` is the host of
/// the images stack's repositories, when known.
fn wanted(image: &str, images_registry: Option<&str>) -> Option<Wanted> {
    let parsed = image_reference::parse(image).ok()?;
    let reference = parsed.digest.or(parsed.tag).unwrap_or("latest").to_string();
    let lookup = match parsed.domain {
        Some(host) if ecr_host(host).is_some() => {
            let (account, region) = ecr_host(host)?;
            Lookup::Ecr {
                registry_id: Some(account),
                region: Some(region),
                repository: parsed.repository.to_string(),
            }
        }
        Some(host) if Some(host) == images_registry => Lookup::Ecr {
            registry_id: None,
            region: None,
            repository: parsed.repository.to_string(),
        },
        // Docker Hub, as Docker names it: one path component is an official
        // image, under `library/`.
        None | Some("docker.io" | "index.docker.io") => Lookup::Registry {
            host: "registry-1.docker.io".to_string(),
            repository: if parsed.repository.contains('/') {
                parsed.repository.to_string()
            } else {
                format!("library/{}", parsed.repository)
            },
        },
        Some(host) => Lookup::Registry {
            host: host.to_string(),
            repository: parsed.repository.to_string(),
        },
    };
    Some(Wanted { lookup, reference })
}

/// Look up `images` (container to image); the warnings to show when every
/// image exists or could not be checked, bad input naming each missing one.
pub async fn check(
    aws: &Aws,
    stack: &StackConfig,
    images: &BTreeMap<String, String>,
) -> anyhow::Result<Vec<String>> {
    if images.is_empty() {
        return Ok(Vec::new());
    }
    let ecr_client = aws.ecr();
    // The images stack's registry, when some image may be in it and no
    // ECR host names it (the local cloud's registry, a registry of an
    // ECR-compatible endpoint).
    let needs_registry = images.values().any(|image| {
        image_reference::parse(image)
            .ok()
            .and_then(|parsed| parsed.domain)
            .is_some_and(|host| ecr_host(host).is_none())
    });
    let repositories = images::repository_names(stack);
    let images_registry = if needs_registry && !repositories.is_empty() {
        ecr::repository_uris(&ecr_client, &repositories)
            .await?
            .values()
            .find_map(|uri| uri.split_once('/').map(|(host, _)| host.to_string()))
    } else {
        None
    };
    let answers = join_all(images.iter().map(|(container, image)| {
        let ecr_client = &ecr_client;
        let images_registry = images_registry.as_deref();
        async move {
            let Some(wanted) = wanted(image, images_registry) else {
                return Ok((container, image, Verdict::Found));
            };
            let verdict = look_up(aws, ecr_client, &wanted).await?;
            anyhow::Ok((container, image, verdict))
        }
    }))
    .await;
    let mut warnings = Vec::new();
    let mut problems = Vec::new();
    for answer in answers {
        let (container, image, verdict) = answer?;
        match verdict {
            Verdict::Found => {}
            Verdict::Missing(why) => problems.push(
                Problem::new(format!(
                    "--image {container}={image}: the image does not exist ({why}), so its tasks could not start"
                ))
                .fix("push it (or deploy with --build), correct the repository or tag, or pass --skip-image-check when the cluster reaches a registry this machine does not"),
            ),
            Verdict::CannotCheck(why) => warnings.push(format!(
                "cannot check that {image} (container {container}) exists: {why}; deploying it as given"
            )),
        }
    }
    if problems.is_empty() {
        Ok(warnings)
    } else {
        Err(InputError::new(problems).into())
    }
}

enum Verdict {
    Found,
    Missing(String),
    CannotCheck(String),
}

async fn look_up(
    aws: &Aws,
    ecr_client: &aws_sdk_ecr::Client,
    wanted: &Wanted,
) -> anyhow::Result<Verdict> {
    let (tag, digest) = if wanted.reference.starts_with("sha256:") {
        (None, Some(wanted.reference.as_str()))
    } else {
        (Some(wanted.reference.as_str()), None)
    };
    match &wanted.lookup {
        Lookup::Ecr {
            registry_id,
            region,
            repository,
        } => {
            let other_region = region.as_deref().filter(|region| *region != aws.region());
            let client = match other_region {
                Some(region) => ecr::client_in_region(aws, region),
                None => ecr_client.clone(),
            };
            let answer =
                ecr::image_exists(&client, registry_id.as_deref(), repository, tag, digest).await?;
            Ok(match answer {
                ImageAnswer::Found => Verdict::Found,
                ImageAnswer::Missing(why) => Verdict::Missing(match digest {
                    Some(digest) => format!("{why} with digest {digest}"),
                    None => format!("{why} tagged {}", wanted.reference),
                }),
                ImageAnswer::CannotCheck(why) => Verdict::CannotCheck(why),
            })
        }
        Lookup::Registry { host, repository } => Ok(
            match registry::manifest(host, repository, &wanted.reference).await {
                ManifestAnswer::Found(_) => Verdict::Found,
                ManifestAnswer::Missing => Verdict::Missing(format!(
                    "{host} has no manifest {repository}:{}",
                    wanted.reference
                )),
                ManifestAnswer::CannotCheck(why) => Verdict::CannotCheck(why),
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_hosts_give_account_and_region() {
        assert_eq!(
            ecr_host("123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
            Some(("123456789012".into(), "eu-west-1".into()))
        );
        assert_eq!(
            ecr_host("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"),
            Some(("123456789012".into(), "cn-north-1".into()))
        );
        assert_eq!(ecr_host("ghcr.io"), None);
        assert_eq!(ecr_host("12345.dkr.ecr.eu-west-1.amazonaws.com"), None);
        assert_eq!(ecr_host("123456789012.dkr.ecr.amazonaws.com"), None);
    }

    #[test]
    fn each_image_is_looked_up_where_it_lives() {
        assert_eq!(
            wanted(
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo/web:1.4.2",
                None
            ),
            Some(Wanted {
                lookup: Lookup::Ecr {
                    registry_id: Some("123456789012".into()),
                    region: Some("eu-west-1".into()),
                    repository: "demo/web".into()
                },
                reference: "1.4.2".into()
            })
        );
        assert_eq!(
            wanted("127.0.0.1:5050/demo-local/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Some("127.0.0.1:5050"))
                .map(|wanted| wanted.lookup),
            Some(Lookup::Ecr {
                registry_id: None,
                region: None,
                repository: "demo-local/web".into()
            })
        );
        assert_eq!(
            wanted("127.0.0.1:5050/other/web:1", None).map(|wanted| wanted.lookup),
            Some(Lookup::Registry {
                host: "127.0.0.1:5050".into(),
                repository: "other/web".into()
            })
        );
        assert_eq!(
            wanted("postgres", None),
            Some(Wanted {
                lookup: Lookup::Registry {
                    host: "registry-1.docker.io".into(),
                    repository: "library/postgres".into()
                },
                reference: "latest".into()
            })
        );
        assert_eq!(
            wanted("ghcr.io/example/demo:1.0.0", None).map(|wanted| wanted.reference),
            Some("1.0.0".into())
        );
    }
}
