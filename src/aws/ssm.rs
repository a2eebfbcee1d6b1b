//! SSM Parameter Store: the stack's secrets and records under `/stackup/<stack>/`.

use aws_sdk_ssm::types::ParameterType;
use aws_sdk_ssm::Client;

use super::errors::{class_of, AwsResultExt, ErrorClass};
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

/// Store a new SecureString; never overwrites. Returns the value that is stored
/// afterwards: `value`, or the one another operator stored first.
pub async fn create_secret(
    client: &Client,
    name: &str,
    value: Secret,
    description: &str,
) -> anyhow::Result<Secret> {
    let result = client
        .put_parameter()
        .name(name)
        .value(value.expose())
        .r#type(ParameterType::SecureString)
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
        Err(error) => Err(error).aws_context(|| format!("creating SSM parameter {name}")),
    }
}

/// Store a SecureString, replacing any value (for a role password that is reset).
pub async fn put_secret(
    client: &Client,
    name: &str,
    value: &Secret,
    description: &str,
) -> anyhow::Result<()> {
    client
        .put_parameter()
        .name(name)
        .value(value.expose())
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .description(description)
        .send()
        .await
        .aws_context(|| format!("storing SSM parameter {name}"))?;
    Ok(())
}
