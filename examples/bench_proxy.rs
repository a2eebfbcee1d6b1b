//! The recording HTTP proxy of scripts/bench: forwards every request to moto and
//! counts the AWS operations that pass through it.
//!
//! usage: bench_proxy --upstream http://127.0.0.1:PORT --port-file FILE [--log FILE]
//!                    [--delay-ms N]
//!
//! Listens on 127.0.0.1 (a free port, written to --port-file once it listens, through
//! FILE.tmp and a rename). Each request is forwarded as is (method, path and query,
//! headers but the hop-by-hop ones, body) over kept-alive pooled connections, and
//! counted as "service:Operation" (tests/common/aws_operation.rs says how a request is
//! named: the service from its SigV4 credential scope; the operation from
//! X-Amz-Target, the Smithy RPCv2 path, or the Action of the query string or of a
//! form-encoded body; otherwise "METHOD /first-path-segment").
//! It also adds up, per operation, the seconds moto took to answer (from forwarding the
//! request to reading the whole response), which tells a client's own time from moto's.
//! With --log, one line per request: seconds since the proxy started (when the request
//! was forwarded), the operation, the HTTP status, the seconds moto took; and
//! "--- counts reset" at each reset.
//! With --delay-ms, each AWS request waits that long before it is forwarded: the round
//! trip to a remote endpoint, which moto on loopback does not have. The wait is not
//! counted in moto's seconds, and other requests go on meanwhile.
//! Control (never forwarded): GET /__bench/counts returns {"calls": {operation: count},
//! "seconds": {operation: seconds}}; POST /__bench/reset clears both.
//!
//! It runs until killed: SIGTERM and SIGINT end it by their default action, and every
//! log line is already written by then.

#[path = "../tests/common/aws_operation.rs"]
mod aws_operation;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::http::request;
use hyper::http::uri::Authority;
use hyper::{HeaderMap, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use aws_operation::{operation_of, signed_service};

/// Headers that belong to one connection, not to the request: never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
];
/// Room for 20 services' deploys connecting at once, and many more: with Python's
/// default of 5, connections were dropped and each client retried a second later.
const LISTEN_BACKLOG: u32 = 1024;
/// How long one attempt may wait for moto's whole answer.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Parser)]
#[command(about = "The recording HTTP proxy of scripts/bench, in front of moto")]
struct Args {
    /// moto's endpoint, http://HOST:PORT
    #[arg(long)]
    upstream: String,
    /// Where to write the port once listening (through FILE.tmp and a rename)
    #[arg(long)]
    port_file: PathBuf,
    /// Append one line per request to FILE: start, operation, status, seconds in moto
    #[arg(long)]
    log: Option<PathBuf>,
    /// Wait this many milliseconds before forwarding each AWS request (a remote API's
    /// round trip); not counted in moto's seconds
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
}

type UpstreamClient = Client<HttpConnector, Full<Bytes>>;

struct Proxy {
    upstream: Authority,
    /// Kept-alive connections to moto, shared by all clients. (moto's server closes
    /// each connection after its answer, so there each call opens one of its own.)
    pooled: UpstreamClient,
    /// A new connection for every request: the retry after a pooled one failed.
    fresh: UpstreamClient,
    delay: Duration,
    recorder: Recorder,
}

/// What passed through since the last reset, and the call log.
struct Recorder {
    started: Instant,
    state: Mutex<Recorded>,
}

#[derive(Default)]
struct Recorded {
    calls: BTreeMap<String, u64>,
    seconds: BTreeMap<String, f64>,
    /// Unbuffered: each line reaches the file as it is written.
    log: Option<File>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let upstream: Uri = args
        .upstream
        .parse()
        .with_context(|| format!("--upstream {} is not a URL", args.upstream))?;
    ensure!(
        upstream.scheme_str() == Some("http"),
        "--upstream {} must be http://HOST:PORT",
        args.upstream
    );
    let upstream = upstream
        .authority()
        .cloned()
        .with_context(|| format!("--upstream {} has no HOST:PORT", args.upstream))?;
    let log = match &args.log {
        Some(path) => Some(
            File::options()
                .append(true)
                .create(true)
                .open(path)
                .with_context(|| format!("cannot open the log {}", path.display()))?,
        ),
        None => None,
    };
    let proxy = Arc::new(Proxy {
        upstream,
        pooled: upstream_client(None),
        fresh: upstream_client(Some(0)),
        delay: Duration::from_millis(args.delay_ms),
        recorder: Recorder {
            started: Instant::now(),
            state: Mutex::new(Recorded {
                log,
                ..Recorded::default()
            }),
        },
    });

    let socket = tokio::net::TcpSocket::new_v4().context("cannot open a socket")?;
    socket
        .bind(([127, 0, 0, 1], 0).into())
        .context("cannot bind 127.0.0.1")?;
    let listener = socket
        .listen(LISTEN_BACKLOG)
        .context("cannot listen on 127.0.0.1")?;
    let port = listener.local_addr().context("no local address")?.port();
    write_port_file(&args.port_file, port)?;

    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors, say: wait for some to be closed.
                eprintln!("bench proxy: accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // No Nagle: with it, a response written in two parts waits for the client's
        // delayed ACK (40 ms on Linux), which would be counted against the client.
        if let Err(error) = stream.set_nodelay(true) {
            eprintln!("bench proxy: TCP_NODELAY: {error}");
        }
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let proxy = proxy.clone();
                async move { proxy.handle(request).await }
            });
            // A client that hangs up mid-request is no concern of the proxy's.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A client to moto with TCP_NODELAY; `max_idle` bounds the kept-alive connections.
fn upstream_client(max_idle: Option<usize>) -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let mut builder = Client::builder(TokioExecutor::new());
    if let Some(max_idle) = max_idle {
        builder.pool_max_idle_per_host(max_idle);
    }
    builder.build(connector)
}

/// "PORT\n" in `path`, whole or not at all: the harness waits for the file to exist.
fn write_port_file(path: &Path, port: u16) -> anyhow::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, format!("{port}\n"))
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| {
        format!(
            "cannot rename {} to {}",
            temporary.display(),
            path.display()
        )
    })
}

impl Proxy {
    async fn handle(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, hyper::Error> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await?.to_bytes();
        let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
        if path.starts_with("/__bench/") {
            let counts = self.recorder.counts(path == "/__bench/reset");
            return Ok(reply(StatusCode::OK, "application/json", counts));
        }
        let name = format!(
            "{}:{}",
            signed_service(&parts.headers),
            operation_of(&parts.method, &parts.uri, &parts.headers, &body)
        );
        self.recorder.count(&name);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let start = Instant::now();
        let mut answer = self.exchange(&self.pooled, &parts, &body).await;
        if let Err(error) = &answer {
            eprintln!("bench proxy: {name}: {error:#}; again on a new connection");
            answer = self.exchange(&self.fresh, &parts, &body).await;
        }
        let (status, headers, data) = match answer {
            Ok(answer) => answer,
            Err(error) => {
                eprintln!("bench proxy: {name}: {error:#}");
                return Ok(reply(
                    StatusCode::BAD_GATEWAY,
                    "text/plain",
                    "bench proxy: upstream failed",
                ));
            }
        };
        self.recorder
            .answered(&name, start, status, start.elapsed());
        let mut headers = end_to_end(&headers);
        headers.insert(CONTENT_LENGTH, HeaderValue::from(data.len()));
        let mut response = Response::new(Full::new(data));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }

    /// One attempt: the request to moto, and its whole answer.
    async fn exchange(
        &self,
        client: &UpstreamClient,
        parts: &request::Parts,
        body: &Bytes,
    ) -> anyhow::Result<(StatusCode, HeaderMap, Bytes)> {
        let uri = Uri::builder()
            .scheme("http")
            .authority(self.upstream.clone())
            .path_and_query(parts.uri.path_and_query().map_or("/", |path| path.as_str()))
            .build()
            .context("the request's path does not make a URL")?;
        let mut request = Request::new(Full::new(body.clone()));
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = end_to_end(&parts.headers);
        let attempt = async {
            let response = client
                .request(request)
                .await
                .context("moto did not answer")?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.context("moto's answer broke off")?;
            anyhow::Ok((parts.status, parts.headers, body.to_bytes()))
        };
        tokio::time::timeout(UPSTREAM_TIMEOUT, attempt)
            .await
            .with_context(|| format!("moto took more than {} s", UPSTREAM_TIMEOUT.as_secs()))?
    }
}

/// `headers` without the hop-by-hop ones.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    for name in HOP_BY_HOP {
        kept.remove(name);
    }
    kept
}

fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let body: Bytes = body.into();
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, Recorded> {
        // Nothing panics while holding the lock; and counts are worth more than a halt.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count(&self, name: &str) {
        *self.lock().calls.entry(name.to_string()).or_default() += 1;
    }

    /// A call moto answered with `status` after `took`, forwarded at `start`.
    fn answered(&self, name: &str, start: Instant, status: StatusCode, took: Duration) {
        let mut recorded = self.lock();
        *recorded.seconds.entry(name.to_string()).or_default() += took.as_secs_f64();
        let since_started = start.duration_since(self.started).as_secs_f64();
        recorded.write_log(&log_line(since_started, name, status, took));
    }

    /// The counts as JSON, after clearing them (and marking the log) if `reset`.
    fn counts(&self, reset: bool) -> String {
        let mut recorded = self.lock();
        if reset {
            recorded.calls.clear();
            recorded.seconds.clear();
            recorded.write_log("--- counts reset\n");
        }
        counts_json(&recorded.calls, &recorded.seconds)
    }
}

impl Recorded {
    fn write_log(&mut self, line: &str) {
        if let Some(log) = &mut self.log {
            if let Err(error) = log.write_all(line.as_bytes()) {
                eprintln!("bench proxy: cannot write the log: {error}");
            }
        }
    }
}

/// "   12.345 ssm:GetParameter 200 0.004\n": what scripts/bench.d/logs_events.py
/// `busy` reads (seconds since the proxy started, right-aligned in 10 columns).
fn log_line(since_started: f64, name: &str, status: StatusCode, took: Duration) -> String {
    format!(
        "{since_started:10.3} {name} {} {:.3}\n",
        status.as_u16(),
        took.as_secs_f64()
    )
}

/// `{"calls": {...}, "seconds": {...}}` as Python's `json.dumps(..., sort_keys=True)`
/// writes it, the seconds rounded to 6 decimals.
fn counts_json(calls: &BTreeMap<String, u64>, seconds: &BTreeMap<String, f64>) -> String {
    let key = |name: &String| serde_json::Value::from(name.as_str()).to_string();
    let calls: Vec<String> = calls
        .iter()
        .map(|(name, count)| format!("{}: {count}", key(name)))
        .collect();
    let seconds: Vec<String> = seconds
        .iter()
        .map(|(name, seconds)| {
            let rounded = (seconds * 1e6).round() / 1e6;
            format!("{}: {}", key(name), serde_json::Value::from(rounded))
        })
        .collect();
    format!(
        "{{\"calls\": {{{}}}, \"seconds\": {{{}}}}}",
        calls.join(", "),
        seconds.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::Method;

    fn name(method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> String {
        let mut map = HeaderMap::new();
        for (header, value) in headers {
            map.insert(
                hyper::header::HeaderName::from_bytes(header.as_bytes()).expect("header name"),
                HeaderValue::from_str(value).expect("header value"),
            );
        }
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let uri: Uri = uri.parse().expect("uri");
        format!(
            "{}:{}",
            signed_service(&map),
            operation_of(&method, &uri, &map, body.as_bytes())
        )
    }

    const SSM: &str = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ssm/aws4_request, \
                       SignedHeaders=host, Signature=0";
    const STS: &str = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sts/aws4_request, \
                       SignedHeaders=host, Signature=0";
    const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

    #[test]
    fn requests_are_named_by_their_protocol_as_proxy_py_named_them() {
        let target = [
            ("authorization", SSM),
            ("x-amz-target", "AmazonSSM.GetParameter"),
        ];
        assert_eq!(name("POST", "/", &target, "{}"), "ssm:GetParameter");
        let rpcv2 = "/service/GraniteServiceVersion20100801/operation/GetMetricData";
        assert_eq!(
            name("POST", rpcv2, &[("authorization", SSM)], ""),
            "ssm:GetMetricData"
        );
        let form = [("authorization", STS), ("content-type", FORM)];
        assert_eq!(
            name(
                "POST",
                "/",
                &form,
                "Action=GetCallerIdentity&Version=2011-06-15"
            ),
            "sts:GetCallerIdentity"
        );
        assert_eq!(
            name("GET", "/?Version=1&Action=Describe%41Z+x", &[], ""),
            "?:DescribeAZ x"
        );
        // a blank Action counts as none, and a body that is not a form is not read
        assert_eq!(name("POST", "/?Action=", &form, "Action=Real"), "sts:Real");
        assert_eq!(
            name("POST", "/", &[("authorization", STS)], "Action=X"),
            "sts:POST /"
        );
        assert_eq!(name("GET", "//v1/things/7?x=1", &[], ""), "?:GET /v1");
        let not_a_scope = [("authorization", "AWS4-HMAC-SHA256 Credential=AKID/x/sts")];
        assert_eq!(name("DELETE", "/", &not_a_scope, ""), "?:DELETE /");
    }

    #[test]
    fn log_lines_and_counts_read_as_proxy_py_wrote_them() {
        let line = log_line(
            3.14159,
            "ssm:GetParameter",
            StatusCode::OK,
            Duration::from_micros(4_400),
        );
        assert_eq!(line, "     3.142 ssm:GetParameter 200 0.004\n");
        let calls = BTreeMap::from([("sts:B".to_string(), 2), ("ecs:A".to_string(), 1)]);
        let seconds = BTreeMap::from([
            ("sts:B".to_string(), 0.123_456_789),
            ("ecs:A".to_string(), 1.0),
        ]);
        assert_eq!(
            counts_json(&calls, &seconds),
            r#"{"calls": {"ecs:A": 1, "sts:B": 2}, "seconds": {"ecs:A": 1.0, "sts:B": 0.123457}}"#
        );
        assert_eq!(
            counts_json(&BTreeMap::new(), &BTreeMap::new()),
            r#"{"calls": {}, "seconds": {}}"#
        );
    }
}
