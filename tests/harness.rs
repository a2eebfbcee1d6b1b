//! The harness itself, against the real local cloud: accounts isolate tests.

mod common;

#[tokio::test]
async fn proxies_isolate_tests_in_their_own_moto_accounts() {
    let cloud = common::LocalCloud::load();
    let first = common::AwsProxy::start(
        &cloud.moto_endpoint(),
        &common::account_for("harness-first"),
    );
    let second = common::AwsProxy::start(
        &cloud.moto_endpoint(),
        &common::account_for("harness-second"),
    );
    let first_ssm = aws_sdk_ssm::Client::new(&common::sdk_config(&first.endpoint).await);
    let second_ssm = aws_sdk_ssm::Client::new(&common::sdk_config(&second.endpoint).await);

    first_ssm
        .put_parameter()
        .name("/stackup/harness/isolated")
        .value("only-in-the-first-account")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .expect("put in the first account");
    let seen = first_ssm
        .get_parameter()
        .name("/stackup/harness/isolated")
        .send()
        .await
        .expect("get in the first account");
    assert_eq!(
        seen.parameter().and_then(|parameter| parameter.value()),
        Some("only-in-the-first-account")
    );
    let error = second_ssm
        .get_parameter()
        .name("/stackup/harness/isolated")
        .send()
        .await
        .expect_err("the second account must not see it");
    assert!(error.into_service_error().is_parameter_not_found());
    assert_eq!(first.operations(), vec!["PutParameter", "GetParameter"]);
    assert_eq!(second.request_count(), 1);
}
