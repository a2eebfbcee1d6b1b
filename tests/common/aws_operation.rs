//! What an AWS request is: its service and its operation, as the integration
//! tests' proxies (tests/common) and the benchmark's recording proxy
//! (examples/bench_proxy.rs) name it. The benchmark's proxy includes this file
//! with `#[path]`, so it depends on hyper alone.

use hyper::{HeaderMap, Method, Uri};

/// The signing name of the service, from the SigV4 credential scope of the
/// Authorization header (`Credential=AKID/20260101/us-east-1/ssm/aws4_request`);
/// "?" for an unsigned request.
pub fn signed_service(headers: &HeaderMap) -> String {
    credential_scope(headers).map_or_else(|| "?".to_string(), |[_, _, _, service]| service)
}

/// The access key id a request was signed with (the first field of the
/// credential scope); "?" for an unsigned request.
#[allow(
    dead_code,
    reason = "the benchmark's proxy includes this file and does not use it"
)]
pub fn signing_key(headers: &HeaderMap) -> String {
    credential_scope(headers).map_or_else(|| "?".to_string(), |[key, _, _, _]| key)
}

/// Access key, date, region and service of the SigV4 credential scope.
fn credential_scope(headers: &HeaderMap) -> Option<[String; 4]> {
    let authorization = header(headers, "authorization")?;
    authorization
        .match_indices("Credential=")
        .find_map(|(at, key)| {
            let mut scope = authorization[at + key.len()..].splitn(5, '/');
            let fields = [scope.next()?, scope.next()?, scope.next()?, scope.next()?];
            (fields.iter().all(|field| !field.is_empty())
                && scope.next()?.starts_with("aws4_request"))
            .then(|| fields.map(str::to_string))
        })
}

/// The operation of an AWS request, by its protocol: the last dot-separated part
/// of X-Amz-Target (the JSON protocols: `AmazonSSM.GetParameter`), the path
/// `/service/<service>/operation/<Operation>` (Smithy RPCv2 CBOR: CloudWatch), the
/// Action field of the query string or of a form-encoded body (the Query protocol:
/// CloudFormation, EC2, STS); otherwise `METHOD /first-path-segment` (REST APIs).
pub fn operation_of(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(target) = header(headers, "x-amz-target").filter(|target| !target.is_empty()) {
        return target
            .rsplit_once('.')
            .map_or(target, |(_, operation)| operation)
            .to_string();
    }
    let path = uri.path();
    if let Some(operation) = rpcv2_operation(path) {
        return operation.to_string();
    }
    let form_body = header(headers, "content-type")
        .is_some_and(|content_type| content_type.contains("x-www-form-urlencoded"));
    let action = uri
        .query()
        .and_then(|query| form_field(query, "Action"))
        .or_else(|| form_body.then(|| form_field(&String::from_utf8_lossy(body), "Action"))?);
    if let Some(action) = action {
        return action;
    }
    let trimmed = path.trim_matches('/');
    let segment = trimmed.split_once('/').map_or(trimmed, |(first, _)| first);
    format!("{method} /{segment}")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// `<Operation>` of `/service/<service>/operation/<Operation>`.
fn rpcv2_operation(path: &str) -> Option<&str> {
    let (service, operation) = path.strip_prefix("/service/")?.split_once("/operation/")?;
    let is_segment = |part: &str| !part.is_empty() && !part.contains('/');
    (is_segment(service) && is_segment(operation)).then_some(operation)
}

/// The first non-empty value of `name` in `a=1&b=2` form encoding, decoded, as
/// Python's `urllib.parse.parse_qs` reads it.
fn form_field(form: &str, name: &str) -> Option<String> {
    form.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (!value.is_empty() && unquote_plus(key) == name).then(|| unquote_plus(value))
    })
}

/// `+` as a space and `%XX` as the byte XX.
fn unquote_plus(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = bytes
            .get(index + 1..index + 3)
            .filter(|hex| bytes[index] == b'%' && hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (bytes[index], escaped) {
            (_, Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (b'+', None) => {
                decoded.push(b' ');
                index += 1;
            }
            (byte, None) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}
