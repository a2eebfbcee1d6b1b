//! STS: who is calling, in which account.

use aws_sdk_sts::Client;

use super::errors::AwsResultExt;

#[derive(Clone, Debug)]
pub struct Caller {
    pub account: String,
    pub arn: String,
}

pub async fn caller(client: &Client) -> anyhow::Result<Caller> {
    let output = client
        .get_caller_identity()
        .send()
        .await
        .aws_context(|| "asking STS who the caller is")?;
    Ok(Caller {
        account: output.account().unwrap_or_default().to_string(),
        arn: output.arn().unwrap_or_default().to_string(),
    })
}
