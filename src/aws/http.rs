//! One HTTP client for every AWS client of a run, as the SDK's default would
//! build it (hyper, rustls with aws-lc, the system's root certificates, the
//! proxy from HTTPS_PROXY/HTTP_PROXY/NO_PROXY), with two differences:
//!
//! - every service client shares it, so a run has one connection pool, and
//!   the root certificates are parsed once instead of once per client;
//! - TLS is set up at the first `https://` request, not before: a run against
//!   a plain `http://` endpoint (a proxy or an emulator on this machine) never
//!   reads the system's certificate store, some 2 ms of a short command.

use std::fmt;

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;

/// The client to give the SDK configuration.
pub fn shared_client() -> SharedHttpClient {
    SharedHttpClient::new(ByScheme {
        plain: Builder::new().build_with_connector_fn(|settings, components| {
            connector(settings, components).build_http()
        }),
        tls: Builder::new().build_with_connector_fn(|settings, components| {
            connector(settings, components)
                .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
                .build()
        }),
    })
}

fn connector(
    settings: Option<&HttpConnectorSettings>,
    components: Option<&RuntimeComponents>,
) -> ConnectorBuilder {
    let mut builder = ConnectorBuilder::default().proxy_config(ProxyConfig::from_env());
    builder.set_connector_settings(settings.cloned());
    if let Some(components) = components {
        builder.set_sleep_impl(components.sleep_impl());
    }
    builder
}

/// Plain HTTP for `http://`, TLS for the rest. Each inner client keeps its
/// connectors (one per timeout settings) and their pools.
#[derive(Debug)]
struct ByScheme {
    plain: SharedHttpClient,
    tls: SharedHttpClient,
}

impl HttpClient for ByScheme {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(ByUri {
            plain: self.plain.http_connector(settings, components),
            tls: self.tls.clone(),
            settings: settings.clone(),
            components: components.clone(),
        })
    }

    fn validate_base_client_config(
        &self,
        runtime_components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        // The TLS client's check would build its connector, certificates and
        // all (the SDK does so on purpose, to load them early); the plain
        // client's checks the same settings (a sleep for the timeouts).
        self.plain
            .validate_base_client_config(runtime_components, cfg)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.tls.connector_metadata()
    }
}

/// A request's connector, chosen by its URI's scheme.
struct ByUri {
    plain: SharedHttpConnector,
    /// Asked for its connector at the first TLS request only (it caches it).
    tls: SharedHttpClient,
    settings: HttpConnectorSettings,
    components: RuntimeComponents,
}

impl fmt::Debug for ByUri {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("ByUri").finish_non_exhaustive()
    }
}

impl HttpConnector for ByUri {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let call = if is_plain(request.uri()) {
            self.plain.call(request)
        } else {
            self.tls
                .http_connector(&self.settings, &self.components)
                .call(request)
        };
        HttpConnectorFuture::new(async move { call.await.map_err(not_retried_when_final) })
    }
}

/// Failures that the same request cannot get past by trying again are made
/// "user" errors, which the SDK does not retry (it would, as the I/O errors
/// they come as, ten times over half a minute): an untrusted certificate
/// stays untrusted, and nothing listens where a connection was refused (an
/// AWS endpoint does not refuse; a wrong --endpoint-url or a proxy that is
/// down does). Resets and timeouts stay retried.
fn not_retried_when_final(error: ConnectorError) -> ConnectorError {
    if super::errors::is_tls_failure(&error) || super::errors::is_connection_refused(&error) {
        ConnectorError::user(error.into())
    } else {
        error
    }
}

fn is_plain(uri: &str) -> bool {
    uri.get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_uris_go_without_tls() {
        assert!(is_plain("http://127.0.0.1:4566/"));
        assert!(is_plain("HTTP://localhost/"));
        assert!(!is_plain("https://ecs.eu-west-1.amazonaws.com/"));
        assert!(!is_plain("http:"));
        assert!(!is_plain(""));
    }
}
