//! The secrets stack: the customer-managed KMS key of one application and
//! environment (`stacks/secrets.json`, compiled in), which encrypts every
//! SecureString stackup writes under `/stackup/<app>-<environment>-v<N>/`.
//!
//! With the AWS managed key `aws/ssm`, any principal of the account allowed
//! `ssm:GetParameter` on a parameter can decrypt it (SSM user guide,
//! "Restricting decryption of SecureString parameter values"); this key's
//! policy (KMS developer guide, "Key policies in AWS KMS") lets the platform
//! stacks' task execution and deploy roles use it through SSM for their own
//! parameters only (`kms:EncryptionContext:PARAMETER_ARN`, "How AWS Systems
//! Manager Parameter Store uses AWS KMS"), and the account's IAM policies
//! grant the rest (the operator's path). Like the images stack, it is per
//! application and environment, apart from the stack versions, and
//! delete-stack keeps it: parameters encrypted with it must stay readable.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::aws::cloudformation::ParameterValue;
use crate::config::StackConfig;

pub const TEMPLATE: &str = include_str!("../stacks/secrets.json");

/// The stack tag that records which template the secrets stack runs, so that
/// a changed key policy is applied and an unchanged one costs no change set.
pub use crate::stacks::TEMPLATE_TAG;

/// `<app>-<environment>`: what the key is for (no version).
pub fn secrets_stack_id(stack: &StackConfig) -> String {
    format!("{}-{}", stack.app, stack.environment)
}

/// The CloudFormation stack holding the key.
pub fn stack_name(stack: &StackConfig) -> String {
    format!("{}-secrets", secrets_stack_id(stack))
}

/// The key's alias, passed as `KeyId` to every SecureString stackup writes.
pub fn key_alias(stack: &StackConfig) -> String {
    format!("alias/stackup/{}", secrets_stack_id(stack))
}

/// The template's parameters.
pub fn parameters(stack: &StackConfig) -> Vec<(String, ParameterValue)> {
    vec![(
        "SecretsStackId".to_string(),
        ParameterValue::Plain(secrets_stack_id(stack)),
    )]
}

pub fn template_sha256() -> String {
    Sha256::digest(TEMPLATE.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The secrets stack's tags (CloudFormation gives them to the key too).
pub fn tags(stack: &StackConfig) -> BTreeMap<String, String> {
    let mut tags = stack.tags.clone();
    tags.insert("stackup:app".into(), stack.app.clone());
    tags.insert("stackup:environment".into(), stack.environment.clone());
    tags.insert(TEMPLATE_TAG.into(), template_sha256());
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_declares_what_stackup_passes_and_keeps_the_key() {
        let template: serde_json::Value = serde_json::from_str(TEMPLATE).expect("valid JSON");
        let declared = template["Parameters"].as_object().expect("parameters");
        assert_eq!(declared.keys().collect::<Vec<_>>(), vec!["SecretsStackId"]);
        let key = &template["Resources"]["SecretsKey"];
        assert_eq!(key["Type"], "AWS::KMS::Key");
        assert_eq!(key["DeletionPolicy"], "Retain");
        assert_eq!(key["UpdateReplacePolicy"], "Retain");
        assert_eq!(key["Properties"]["EnableKeyRotation"], true);
        assert_eq!(
            template["Resources"]["SecretsKeyAlias"]["Properties"]["AliasName"]["Fn::Sub"],
            "alias/stackup/${SecretsStackId}"
        );
    }
}
