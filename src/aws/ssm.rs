//! SSM Parameter Store: the stack's secrets and records under `/stackup/<stack>/`.

use aws_sdk_ssm::types::ParameterType;
use aws_sdk_ssm::Client;

use aws_sdk_ssm::config::retry::RetryConfig;

use aws_sdk_ssm::operation::put_parameter::PutParameterError;
use aws_smithy_runtime_api::client::result::SdkError;

use super::errors::{class_of, with_hint, AwsError, AwsResultExt, ErrorClass};
use super::once::{at_most_once, attempt, Attempt};
use crate::secret::Secret;

/// A SecureString's value, or `None` when the parameter does not exist.
pub async fn get_secret(client: &Client, name: &str) -> anyhow::Result<Option<Secret>> {
    let result = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .aws_context(|| format!("reading SSM parameter {name}"));
    match result {
        Ok(output) => Ok(output
            .parameter()
            .and_then(|parameter| parameter.value())
            .map(Secret::new)),
        Err(error) if class_of(&error) == Some(ErrorClass::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Which of `names` exist, from their metadata (DescribeParameters, filtered
/// by name, 50 names a call): no value is read, so the caller needs neither
/// ssm:GetParameter on them nor kms:Decrypt to know they are there (the deploy
/// role may not read the application's secrets; README, "IAM permissions").
pub async fn existing(
    client: &Client,
    names: &[String],
) -> anyhow::Result<std::collections::HashSet<String>> {
    let mut found = std::collections::HashSet::new();
    for chunk in names.chunks(50) {
        let filter = aws_sdk_ssm::types::ParameterStringFilter::builder()
            .key("Name")
            .option("Equals")
            .set_values(Some(chunk.to_vec()))
            .build()
            .map_err(|error| anyhow::anyhow!("a DescribeParameters filter: {error}"))?;
        let mut next_token: Option<String> = None;
        loop {
            let output = client
                .describe_parameters()
                .parameter_filters(filter.clone())
                .max_results(50)
                .set_next_token(next_token.clone())
                .send()
                .await
                .aws_context(|| format!("looking up SSM parameters {}", chunk.join(", ")))?;
            found.extend(
                output
                    .parameters()
                    .iter()
                    .filter_map(|parameter| parameter.name().map(str::to_string)),
            );
            next_token = output.next_token().map(str::to_string);
            if next_token.is_none() {
                break;
            }
        }
    }
    Ok(found)
}

/// The values of plain String parameters (AWS's public ones among them),
/// by name; names that do not exist are left out.
pub async fn values(
    client: &Client,
    names: &[String],
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let mut found = std::collections::BTreeMap::new();
    for chunk in names.chunks(10) {
        let output = client
            .get_parameters()
            .set_names(Some(chunk.to_vec()))
            .send()
            .await
            .aws_context(|| format!("reading SSM parameters {}", chunk.join(", ")))?;
        found.extend(output.parameters().iter().filter_map(|parameter| {
            Some((
                parameter.name()?.to_string(),
                parameter.value()?.to_string(),
            ))
        }));
    }
    Ok(found)
}

/// Store a new SecureString, encrypted with `key_id` (the stack's key,
/// `secrets_key::key_alias`); never overwrites. Returns the value that is
/// stored afterwards: `value`, or the one another operator stored first.
pub async fn create_secret(
    client: &Client,
    name: &str,
    value: Secret,
    description: &str,
    key_id: &str,
) -> anyhow::Result<Secret> {
    let result = client
        .put_parameter()
        .name(name)
        .value(value.expose())
        .r#type(ParameterType::SecureString)
        .key_id(key_id)
        .overwrite(false)
        .description(description)
        .send()
        .await;
    match result {
        Ok(_) => Ok(value),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|error| error.is_parameter_already_exists()) =>
        {
            get_secret(client, name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("SSM parameter {name} exists but cannot be read"))
        }
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|error| error.is_invalid_key_id()) =>
        {
            Err(missing_key(&error, name, key_id))
        }
        Err(error) => Err(error).aws_context(|| format!("creating SSM parameter {name}")),
    }
}

/// The failure of a put that names a KMS key that is not there
/// (PutParameter's `InvalidKeyId`, SSM API reference), and what to do: a
/// stack created before stackup encrypted with its own key (create-stack
/// makes the key first).
fn missing_key<R: std::fmt::Debug + 'static>(
    error: &SdkError<PutParameterError, R>,
    name: &str,
    key_id: &str,
) -> anyhow::Error {
    let failed = AwsError::from_sdk(
        format!(
            "storing SSM parameter {name}: the KMS key {key_id} does not exist in this account and region"
        ),
        error,
    );
    with_hint(
        anyhow::Error::new(failed),
        "run `stackup create-stack` for this stack first, which creates it",
    )
}

/// Store a SecureString encrypted with `key_id`, replacing any value (for a
/// role password that is reset).
pub async fn put_secret(
    client: &Client,
    name: &str,
    value: &Secret,
    description: &str,
    key_id: &str,
) -> anyhow::Result<()> {
    let result = client
        .put_parameter()
        .name(name)
        .value(value.expose())
        .r#type(ParameterType::SecureString)
        .key_id(key_id)
        .overwrite(true)
        .description(description)
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|error| error.is_invalid_key_id()) =>
        {
            Err(missing_key(&error, name, key_id))
        }
        Err(error) => Err(error).aws_context(|| format!("storing SSM parameter {name}")),
    }
}

/// Store a plain String parameter (a release record), replacing the value:
/// SSM keeps the previous values as versions. Once, even when an answer is
/// lost (PutParameter has no client token, and a second put would make a
/// second version): before sending again, the parameter is read, and if it
/// already holds `value` (a record names its release and time) that is it.
pub async fn put_record(client: &Client, name: &str, value: &str) -> anyhow::Result<i64> {
    at_most_once(
        || async {
            let result = client
                .put_parameter()
                .name(name)
                .value(value)
                .r#type(ParameterType::String)
                .overwrite(true)
                .customize()
                .config_override(
                    aws_sdk_ssm::config::Builder::default().retry_config(RetryConfig::disabled()),
                )
                .send()
                .await;
            match attempt(result, || format!("recording {name}")) {
                Attempt::Done(output) => Attempt::Done(output.version()),
                Attempt::Retry(error) => Attempt::Retry(error),
                Attempt::Fail(error) => Attempt::Fail(error),
            }
        },
        || async {
            let output = client.get_parameter().name(name).send().await;
            match output.aws_context(|| format!("reading SSM parameter {name}")) {
                Ok(output) => Ok(output
                    .parameter()
                    .filter(|parameter| parameter.value() == Some(value))
                    .map(|parameter| parameter.version())),
                Err(error) if class_of(&error) == Some(ErrorClass::NotFound) => Ok(None),
                Err(error) => Err(error),
            }
        },
    )
    .await
}

/// Delete a parameter; one already gone is no error.
pub async fn delete(client: &Client, name: &str) -> anyhow::Result<()> {
    let result = client
        .delete_parameter()
        .name(name)
        .send()
        .await
        .aws_context(|| format!("deleting SSM parameter {name}"));
    match result {
        Ok(_) => Ok(()),
        Err(error) if class_of(&error) == Some(ErrorClass::NotFound) => Ok(()),
        Err(error) => Err(error),
    }
}

/// A plain String parameter's value (a release record), or `None` when the
/// parameter does not exist.
pub async fn get_record(client: &Client, name: &str) -> anyhow::Result<Option<String>> {
    let result = client
        .get_parameter()
        .name(name)
        .send()
        .await
        .aws_context(|| format!("reading SSM parameter {name}"));
    match result {
        Ok(output) => Ok(output
            .parameter()
            .and_then(|parameter| parameter.value())
            .map(str::to_string)),
        Err(error) if class_of(&error) == Some(ErrorClass::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Every value a parameter had, oldest first (none when it does not exist).
pub async fn history(client: &Client, name: &str) -> anyhow::Result<Vec<(i64, String)>> {
    let mut values = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let result = client
            .get_parameter_history()
            .name(name)
            .max_results(50)
            .set_next_token(next_token.clone())
            .send()
            .await
            .aws_context(|| format!("reading the history of {name}"));
        let output = match result {
            Ok(output) => output,
            Err(error) if class_of(&error) == Some(ErrorClass::NotFound) => return Ok(values),
            Err(error) => return Err(error),
        };
        values.extend(
            output.parameters().iter().filter_map(|parameter| {
                Some((parameter.version(), parameter.value()?.to_string()))
            }),
        );
        next_token = output.next_token().map(str::to_string);
        if next_token.is_none() {
            values.sort_by_key(|(version, _)| *version);
            return Ok(values);
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ssm::types::error::InvalidKeyId;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    /// PutParameter's answer for a key that does not exist (SSM API
    /// reference, PutParameter: `InvalidKeyId`, HTTP 400).
    fn invalid_key_id() -> SdkError<PutParameterError, Response> {
        let meta = ErrorMetadata::builder()
            .code("InvalidKeyId")
            .message("Invalid keyId alias/demo-local-secrets")
            .build();
        SdkError::service_error(
            PutParameterError::InvalidKeyId(
                InvalidKeyId::builder()
                    .message("Invalid keyId alias/demo-local-secrets")
                    .meta(meta)
                    .build(),
            ),
            Response::new(
                StatusCode::try_from(400).expect("a status"),
                SdkBody::empty(),
            ),
        )
    }

    /// What went wrong is the message; what to do is a hint of its own,
    /// printed on its own line.
    #[test]
    fn a_missing_key_says_what_creates_it_as_a_hint() {
        let error = missing_key(
            &invalid_key_id(),
            "/stackup/demo-local-v1/database/master-password",
            "alias/demo-local-secrets",
        );
        let aws = error.downcast_ref::<AwsError>().expect("an AWS error");
        assert_eq!(
            aws.message(),
            "storing SSM parameter /stackup/demo-local-v1/database/master-password: the KMS key alias/demo-local-secrets does not exist in this account and region: InvalidKeyId: Invalid keyId alias/demo-local-secrets"
        );
        assert_eq!(
            aws.hints(),
            ["run `stackup create-stack` for this stack first, which creates it"]
        );
        assert!(error.to_string().ends_with(
            "\n  fix: run `stackup create-stack` for this stack first, which creates it"
        ));
    }
}
