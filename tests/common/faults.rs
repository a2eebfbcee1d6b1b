//! A fault-injecting proxy in front of moto, for the fault tests.
//!
//! [`FaultProxy`] forwards to moto like [`super::AwsProxy`] (its own moto
//! account through `x-moto-account-id`), but for a fraction of the AWS
//! requests it answers in moto's place with what AWS sends when it is having a
//! bad moment, shaped exactly like AWS for each protocol:
//!
//! | fault | JSON services (ECS, SSM, Logs) | CloudFormation, STS (query) | EC2 (query) |
//! |---|---|---|---|
//! | throttling | 400 `ThrottlingException` | 400 `Throttling` | 503 `RequestLimitExceeded` |
//! | internal error | 500 `InternalFailure` | 500 `InternalFailure` | 500 `InternalError` |
//! | unavailable | 503 `ServiceUnavailable` | 503 `ServiceUnavailable` | 503 `Unavailable` |
//! | reset | the connection is reset (TCP RST), no response | same | same |
//!
//! and it delays others (at most [`FaultPlan::max_delay`]) before forwarding
//! them. These faults are decided and injected *before* forwarding: the
//! request never reaches moto, so whatever the client does next (a retry) is
//! safe to count. [`FaultProxy::fail_before_forwarding`] adds such faults to
//! chosen calls whatever the draw (a command's one RegisterTaskDefinition is
//! sure to meet one); [`FaultProxy::fail_after_forwarding`] adds the other
//! kind: moto does the work and the client sees an error anyway, which is how
//! a lost response looks and what idempotency must survive.
//!
//! EC2's throttling comes with HTTP 503, as EC2 sends it; every other query
//! and JSON throttling error with 400. Requests that are neither JSON nor
//! query protocol (moto's `/moto-api`) are forwarded untouched.
//!
//! The decisions come from a seed ([`FaultPlan::seed`], or the environment
//! variable `STACKUP_FAULT_SEED`): the n-th request of an operation gets the
//! same decision in every run with that seed, whatever the timing, so a
//! failing run can be repeated. The seed and the counts are printed when a
//! test panics while the proxy is alive.
//!
//! Every request is recorded as an [`Exchange`] (operation, the SDK's attempt
//! number from `amz-sdk-request`, the fault, whether moto saw it and what it
//! answered); [`FaultProxy::stats`] sums them per operation.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// A fault the proxy answers with instead of (or after) forwarding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// The protocol's throttling error (`ThrottlingException`, `Throttling`,
    /// `RequestLimitExceeded`).
    Throttling,
    /// HTTP 500, `InternalFailure` (EC2: `InternalError`).
    InternalError,
    /// HTTP 503, `ServiceUnavailable` (EC2: `Unavailable`).
    Unavailable,
    /// The connection is reset with no response at all.
    Reset,
}

impl FaultKind {
    pub const ALL: [FaultKind; 4] = [
        FaultKind::Throttling,
        FaultKind::InternalError,
        FaultKind::Unavailable,
        FaultKind::Reset,
    ];
}

/// What the proxy does to the requests it sees.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    pub seed: u64,
    /// The fraction of AWS requests answered with a fault (0.0 to 1.0).
    pub failure_rate: f64,
    /// The faults to choose from, evenly.
    pub kinds: Vec<FaultKind>,
    /// The fraction of the other requests that are delayed before forwarding.
    pub delay_rate: f64,
    pub max_delay: Duration,
    /// A ceiling on injected faults over the proxy's life, so that no fault
    /// loop can run away whatever the client does.
    pub max_faults: u64,
}

impl FaultPlan {
    /// `failure_rate` of the requests fail (every kind), a tenth of the rest
    /// are delayed up to 300 ms; the seed from `STACKUP_FAULT_SEED` when set,
    /// otherwise from the clock (printed on failure).
    pub fn new(failure_rate: f64) -> FaultPlan {
        let seed = std::env::var("STACKUP_FAULT_SEED")
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|elapsed| elapsed.as_nanos() as u64)
                    .unwrap_or_default()
                    % 1_000_000_007
            });
        FaultPlan {
            seed,
            failure_rate,
            kinds: FaultKind::ALL.to_vec(),
            delay_rate: 0.1,
            max_delay: Duration::from_millis(300),
            max_faults: 5_000,
        }
    }

    /// Nothing injected before forwarding (for after-forwarding faults alone).
    pub fn none() -> FaultPlan {
        FaultPlan {
            failure_rate: 0.0,
            delay_rate: 0.0,
            ..FaultPlan::new(0.0)
        }
    }

    pub fn with_seed(mut self, seed: u64) -> FaultPlan {
        self.seed = seed;
        self
    }

    pub fn with_kinds(mut self, kinds: &[FaultKind]) -> FaultPlan {
        self.kinds = kinds.to_vec();
        self
    }
}

/// One request the proxy saw and what became of it.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub operation: String,
    /// The AWS service, from the request's SigV4 credential scope (`ecs`, `ec2`...).
    pub service: String,
    /// The SDK's attempt number and maximum (`amz-sdk-request: attempt=N; max=M`).
    pub attempt: u32,
    pub max_attempts: u32,
    /// A fault answered instead of forwarding.
    pub fault_before: Option<FaultKind>,
    pub delayed: Option<Duration>,
    /// Whether moto received the request.
    pub forwarded: bool,
    /// moto's status code, when it answered.
    pub upstream_status: Option<u16>,
    /// A fault answered although moto did the work.
    pub fault_after: Option<FaultKind>,
    /// The request body (form or JSON), for telling calls apart.
    pub body: String,
}

impl Exchange {
    /// Forwarded and answered 2xx by moto: the side effect happened.
    pub fn succeeded_upstream(&self) -> bool {
        self.upstream_status
            .is_some_and(|status| (200..300).contains(&status))
    }
}

/// The counts of one operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperationStats {
    pub requests: usize,
    /// Faults injected before forwarding, by kind.
    pub faults: BTreeMap<FaultKind, usize>,
    pub delayed: usize,
    pub forwarded: usize,
    /// Forwarded and answered 2xx by moto.
    pub succeeded_upstream: usize,
    /// Faults answered after moto did the work.
    pub faults_after_forwarding: usize,
    /// Requests that were retries (attempt > 1).
    pub retries: usize,
    /// The highest attempt number seen, and the SDK's maximum.
    pub max_attempt: u32,
    pub max_attempts_allowed: u32,
}

impl OperationStats {
    pub fn fault_count(&self) -> usize {
        self.faults.values().sum()
    }
}

/// A rule of [`FaultProxy::fail_before_forwarding`] or
/// [`FaultProxy::fail_after_forwarding`].
#[derive(Clone, Debug)]
struct Rule {
    operation: String,
    body_contains: Option<String>,
    remaining: usize,
    kind: FaultKind,
}

#[derive(Debug)]
struct Shared {
    plan: Mutex<FaultPlan>,
    /// Requests seen per operation: the index of the next decision.
    sequence: Mutex<BTreeMap<String, u64>>,
    injected: AtomicU64,
    before_rules: Mutex<Vec<Rule>>,
    after_rules: Mutex<Vec<Rule>>,
    exchanges: Mutex<Vec<Exchange>>,
}

/// The proxy (see the module documentation). Listens on 127.0.0.1; stops
/// when dropped.
pub struct FaultProxy {
    pub endpoint: String,
    pub account: String,
    pub seed: u64,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Forward to `upstream` (moto) as `account`, injecting faults per `plan`.
    pub fn start(upstream: &str, account: &str, plan: FaultPlan) -> FaultProxy {
        let seed = plan.seed;
        let shared = Arc::new(Shared {
            plan: Mutex::new(plan),
            sequence: Mutex::new(BTreeMap::new()),
            injected: AtomicU64::new(0),
            before_rules: Mutex::new(Vec::new()),
            after_rules: Mutex::new(Vec::new()),
            exchanges: Mutex::new(Vec::new()),
        });
        let (address_sender, address_receiver) = std::sync::mpsc::channel::<SocketAddr>();
        let (shutdown, shutdown_receiver) = tokio::sync::oneshot::channel::<()>();
        let upstream = upstream.to_string();
        let account_header = account.to_string();
        let thread_shared = shared.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("fault proxy runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind fault proxy");
                address_sender
                    .send(listener.local_addr().expect("address"))
                    .expect("send address");
                let client: super::ProxyClient = Client::builder(TokioExecutor::new()).build_http();
                let mut shutdown_receiver = shutdown_receiver;
                let mut connections = tokio::task::JoinSet::new();
                loop {
                    tokio::select! {
                        _ = &mut shutdown_receiver => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let connection = Connection {
                                client: client.clone(),
                                upstream: upstream.clone(),
                                account: account_header.clone(),
                                shared: thread_shared.clone(),
                            };
                            connections.spawn(connection.serve(stream));
                        }
                    }
                }
                connections.abort_all();
            });
        });
        let address = address_receiver.recv().expect("fault proxy address");
        FaultProxy {
            endpoint: format!("http://{address}"),
            account: account.to_string(),
            seed,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// Change the fraction of requests that fail before forwarding (0.0 stops
    /// injecting, e.g. while a test reads back what a command did).
    pub fn set_failure_rate(&self, rate: f64) {
        let mut plan = self.shared.plan.lock().expect("plan");
        plan.failure_rate = rate;
        if rate == 0.0 {
            plan.delay_rate = 0.0;
        }
    }

    /// Answer the next `times` requests of `operation` (whose body contains
    /// `body_contains`, when given) with `kind` instead of forwarding them,
    /// whatever the random draw: so that a command's few side-effecting calls
    /// are sure to meet a fault in every run.
    pub fn fail_before_forwarding(
        &self,
        operation: &str,
        body_contains: Option<&str>,
        times: usize,
        kind: FaultKind,
    ) {
        self.shared
            .before_rules
            .lock()
            .expect("rules")
            .push(Rule::new(operation, body_contains, times, kind));
    }

    /// Answer the next `times` requests of `operation` (whose body contains
    /// `body_contains`, when given) with `kind` after moto has processed them.
    pub fn fail_after_forwarding(
        &self,
        operation: &str,
        body_contains: Option<&str>,
        times: usize,
        kind: FaultKind,
    ) {
        self.shared
            .after_rules
            .lock()
            .expect("rules")
            .push(Rule::new(operation, body_contains, times, kind));
    }

    /// Every request so far, in order of arrival.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.exchanges.lock().expect("exchanges").clone()
    }

    /// Forget the exchanges so far (counting starts again for the next command).
    pub fn clear(&self) {
        self.shared.exchanges.lock().expect("exchanges").clear();
    }

    /// Counts per operation.
    pub fn stats(&self) -> BTreeMap<String, OperationStats> {
        let mut stats: BTreeMap<String, OperationStats> = BTreeMap::new();
        for exchange in self.exchanges() {
            let entry = stats.entry(exchange.operation.clone()).or_default();
            entry.requests += 1;
            if let Some(kind) = exchange.fault_before {
                *entry.faults.entry(kind).or_default() += 1;
            }
            if exchange.delayed.is_some() {
                entry.delayed += 1;
            }
            if exchange.forwarded {
                entry.forwarded += 1;
            }
            if exchange.succeeded_upstream() {
                entry.succeeded_upstream += 1;
            }
            if exchange.fault_after.is_some() {
                entry.faults_after_forwarding += 1;
            }
            if exchange.attempt > 1 {
                entry.retries += 1;
            }
            entry.max_attempt = entry.max_attempt.max(exchange.attempt);
            entry.max_attempts_allowed = entry.max_attempts_allowed.max(exchange.max_attempts);
        }
        stats
    }

    /// The counts of one operation (zero when it was never called).
    pub fn operation(&self, operation: &str) -> OperationStats {
        self.stats().remove(operation).unwrap_or_default()
    }

    /// Totals over every operation.
    pub fn totals(&self) -> OperationStats {
        let mut total = OperationStats::default();
        for stats in self.stats().into_values() {
            total.requests += stats.requests;
            for (kind, count) in stats.faults {
                *total.faults.entry(kind).or_default() += count;
            }
            total.delayed += stats.delayed;
            total.forwarded += stats.forwarded;
            total.succeeded_upstream += stats.succeeded_upstream;
            total.faults_after_forwarding += stats.faults_after_forwarding;
            total.retries += stats.retries;
            total.max_attempt = total.max_attempt.max(stats.max_attempt);
            total.max_attempts_allowed = total.max_attempts_allowed.max(stats.max_attempts_allowed);
        }
        total
    }

    /// A report of the seed and the counts, one line per operation.
    pub fn summary(&self) -> String {
        let totals = self.totals();
        let mut text = format!(
            "fault proxy seed {} (rerun with STACKUP_FAULT_SEED={}): {} requests, {} faults before forwarding {:?}, {} after, {} delayed, {} retries, highest attempt {} of {}\n",
            self.seed,
            self.seed,
            totals.requests,
            totals.fault_count(),
            totals.faults,
            totals.faults_after_forwarding,
            totals.delayed,
            totals.retries,
            totals.max_attempt,
            totals.max_attempts_allowed,
        );
        for (operation, stats) in self.stats() {
            text.push_str(&format!(
                "  {operation}: {} requests, {} faults, {} forwarded ({} 2xx), {} after, {} retries, highest attempt {}\n",
                stats.requests,
                stats.fault_count(),
                stats.forwarded,
                stats.succeeded_upstream,
                stats.faults_after_forwarding,
                stats.retries,
                stats.max_attempt,
            ));
        }
        text
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.summary());
        }
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The error a handler returns to make hyper drop the connection unanswered:
/// a reset it injects, or a failure of its own.
#[derive(Debug)]
struct Unanswered(String);

impl std::fmt::Display for Unanswered {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "fault proxy: {}", self.0)
    }
}

impl std::error::Error for Unanswered {}

impl Unanswered {
    fn from<E: std::fmt::Display>(error: E) -> Unanswered {
        Unanswered(error.to_string())
    }
}

#[derive(Clone)]
struct Connection {
    client: super::ProxyClient,
    upstream: String,
    account: String,
    shared: Arc<Shared>,
}

impl Connection {
    async fn serve(self, stream: tokio::net::TcpStream) {
        // A second handle on the socket, to turn hyper's close into a reset
        // (SO_LINGER 0 makes the kernel send RST instead of FIN).
        let resetter = stream
            .into_std()
            .and_then(|socket| Ok((socket.try_clone()?, socket)))
            .and_then(|(spare, socket)| {
                Ok((
                    Arc::new(Mutex::new(Some(spare))),
                    tokio::net::TcpStream::from_std(socket)?,
                ))
            });
        let Ok((spare, stream)) = resetter else {
            return;
        };
        let service_spare = spare.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let connection = self.clone();
            let spare = service_spare.clone();
            async move {
                let outcome = connection.handle(request).await;
                if outcome.is_err() {
                    if let Some(socket) = spare.lock().expect("spare").take() {
                        if let Ok(socket) = tokio::net::TcpStream::from_std(socket) {
                            let _ = socket.set_zero_linger();
                        }
                    }
                }
                outcome
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await;
        drop(spare);
    }

    async fn handle(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Unanswered> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await.map_err(Unanswered::from)?.to_bytes();
        let path = parts
            .uri
            .path_and_query()
            .map(|path| path.as_str())
            .unwrap_or("/")
            .to_string();
        let protocol = Protocol::of(&parts.headers, &body, &path);
        let operation = super::operation_of(&parts.method, &parts.uri, &parts.headers, &body);
        let service = super::signed_service(&parts.headers);
        let (attempt, max_attempts) = attempt_of(&parts.headers);
        let mut exchange = Exchange {
            operation: operation.clone(),
            service: service.clone(),
            attempt,
            max_attempts,
            fault_before: None,
            delayed: None,
            forwarded: false,
            upstream_status: None,
            fault_after: None,
            body: String::from_utf8_lossy(&body[..body.len().min(1024 * 1024)]).to_string(),
        };

        let decision = if protocol == Protocol::Other {
            Decision::Forward
        } else if let Some(kind) = Rule::take(&self.shared.before_rules, &operation, &exchange.body)
        {
            Decision::Fault(kind)
        } else {
            self.decide(&operation)
        };
        match decision {
            Decision::Fault(kind) => {
                exchange.fault_before = Some(kind);
                self.record(exchange);
                return fault_response(kind, protocol, &service);
            }
            Decision::Delay(delay) => {
                exchange.delayed = Some(delay);
                tokio::time::sleep(delay).await;
            }
            Decision::Forward => {}
        }

        let uri: hyper::Uri = format!("{}{path}", self.upstream)
            .parse()
            .map_err(Unanswered::from)?;
        let mut builder = Request::builder().method(parts.method).uri(uri);
        for (name, value) in &parts.headers {
            builder = builder.header(name, value);
        }
        builder = builder.header("x-moto-account-id", &self.account);
        let upstream_request = builder
            .body(Full::new(body.clone()))
            .map_err(Unanswered::from)?;
        exchange.forwarded = true;
        let response = match self.client.request(upstream_request).await {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                let body = body.collect().await.map_err(Unanswered::from)?.to_bytes();
                Response::from_parts(parts, Full::new(body))
            }
            Err(error) => {
                self.record(exchange);
                return Response::builder()
                    .status(502)
                    .body(Full::new(Bytes::from(format!("fault proxy: {error}"))))
                    .map_err(Unanswered::from);
            }
        };
        exchange.upstream_status = Some(response.status().as_u16());
        if let Some(kind) = self.after_fault(&operation, &exchange.body) {
            exchange.fault_after = Some(kind);
            self.record(exchange);
            return fault_response(kind, protocol, &service);
        }
        self.record(exchange);
        Ok(response)
    }

    fn record(&self, exchange: Exchange) {
        self.shared
            .exchanges
            .lock()
            .expect("exchanges")
            .push(exchange);
    }

    /// The decision for the next request of `operation`: a pure function of
    /// the seed, the operation and how many of its requests came before.
    fn decide(&self, operation: &str) -> Decision {
        let plan = self.shared.plan.lock().expect("plan").clone();
        let index = {
            let mut sequence = self.shared.sequence.lock().expect("sequence");
            let next = sequence.entry(operation.to_string()).or_default();
            *next += 1;
            *next - 1
        };
        let mut random = SplitMix(plan.seed ^ fnv1a(operation) ^ index.wrapping_mul(0x9e37_79b9));
        let draw = random.unit();
        if draw < plan.failure_rate && !plan.kinds.is_empty() {
            if self.shared.injected.fetch_add(1, Ordering::SeqCst) < plan.max_faults {
                let kind = plan.kinds[(random.next() % plan.kinds.len() as u64) as usize];
                return Decision::Fault(kind);
            }
            return Decision::Forward;
        }
        if random.unit() < plan.delay_rate {
            let millis = plan.max_delay.as_millis().max(1) as u64;
            return Decision::Delay(Duration::from_millis(random.next() % millis));
        }
        Decision::Forward
    }

    fn after_fault(&self, operation: &str, body: &str) -> Option<FaultKind> {
        Rule::take(&self.shared.after_rules, operation, body)
    }
}

impl Rule {
    fn new(operation: &str, body_contains: Option<&str>, times: usize, kind: FaultKind) -> Rule {
        Rule {
            operation: operation.to_string(),
            body_contains: body_contains.map(str::to_string),
            remaining: times,
            kind,
        }
    }

    /// The fault of the first rule that matches, counted down.
    fn take(rules: &Mutex<Vec<Rule>>, operation: &str, body: &str) -> Option<FaultKind> {
        let mut rules = rules.lock().expect("rules");
        let rule = rules.iter_mut().find(|rule| {
            rule.remaining > 0
                && rule.operation == operation
                && rule
                    .body_contains
                    .as_deref()
                    .is_none_or(|needle| body.contains(needle))
        })?;
        rule.remaining -= 1;
        Some(rule.kind)
    }
}

enum Decision {
    Forward,
    Delay(Duration),
    Fault(FaultKind),
}

/// How a request is encoded, which decides how its errors look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// `X-Amz-Target` with `application/x-amz-json-1.x` (ECS, SSM, Logs).
    Json,
    /// Form-encoded `Action=` (CloudFormation, EC2, STS).
    Query,
    /// Anything else (moto's control API, other protocols): never faulted.
    Other,
}

impl Protocol {
    fn of(headers: &hyper::HeaderMap, body: &Bytes, path: &str) -> Protocol {
        if path.starts_with("/moto-api") {
            return Protocol::Other;
        }
        let content_type = headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if headers.contains_key("x-amz-target")
            || content_type.starts_with("application/x-amz-json")
        {
            Protocol::Json
        } else if content_type.starts_with("application/x-www-form-urlencoded")
            && String::from_utf8_lossy(body)
                .split('&')
                .any(|pair| pair.starts_with("Action="))
        {
            Protocol::Query
        } else {
            Protocol::Other
        }
    }
}

/// `amz-sdk-request: attempt=2; max=10` as (2, 10); (1, 0) without it.
fn attempt_of(headers: &hyper::HeaderMap) -> (u32, u32) {
    let Some(value) = headers
        .get("amz-sdk-request")
        .and_then(|value| value.to_str().ok())
    else {
        return (1, 0);
    };
    let field = |name: &str| {
        value
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .and_then(|(_, number)| number.trim().parse().ok())
    };
    (field("attempt").unwrap_or(1), field("max").unwrap_or(0))
}

/// The response AWS would send for `kind`, or a reset.
fn fault_response(
    kind: FaultKind,
    protocol: Protocol,
    service: &str,
) -> Result<Response<Full<Bytes>>, Unanswered> {
    if kind == FaultKind::Reset {
        return Err(Unanswered("connection reset".to_string()));
    }
    let request_id = request_id();
    let response = match (protocol, service) {
        (Protocol::Query, "ec2") => {
            // EC2's own error document; its throttling comes with 503.
            let (status, code, message) = match kind {
                FaultKind::Throttling => (503, "RequestLimitExceeded", "Request limit exceeded."),
                FaultKind::InternalError => {
                    (500, "InternalError", "An internal error has occurred")
                }
                _ => (
                    503,
                    "Unavailable",
                    "The server is overloaded and can't handle the request.",
                ),
            };
            Response::builder()
                .status(status)
                .header("content-type", "text/xml;charset=UTF-8")
                .body(Full::new(Bytes::from(format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
                ))))
                .map_err(Unanswered::from)?
        }
        (Protocol::Query, service) => {
            let namespace = match service {
                "sts" => "https://sts.amazonaws.com/doc/2011-06-15/",
                _ => "http://cloudformation.amazonaws.com/doc/2010-05-15/",
            };
            let (status, error_type, code, message) = match kind {
                FaultKind::Throttling => (400, "Sender", "Throttling", "Rate exceeded"),
                FaultKind::InternalError => (
                    500,
                    "Receiver",
                    "InternalFailure",
                    "The request processing has failed because of an unknown error, exception or failure.",
                ),
                _ => (
                    503,
                    "Receiver",
                    "ServiceUnavailable",
                    "The request has failed due to a temporary failure of the server.",
                ),
            };
            Response::builder()
                .status(status)
                .header("content-type", "text/xml")
                .header("x-amzn-RequestId", &request_id)
                .body(Full::new(Bytes::from(format!(
                    "<ErrorResponse xmlns=\"{namespace}\">\n  <Error>\n    <Type>{error_type}</Type>\n    <Code>{code}</Code>\n    <Message>{message}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n"
                ))))
                .map_err(Unanswered::from)?
        }
        _ => {
            let (status, code, message) = match kind {
                FaultKind::Throttling => (400, "ThrottlingException", "Rate exceeded"),
                FaultKind::InternalError => (
                    500,
                    "InternalFailure",
                    "The request processing has failed because of an unknown error, exception or failure.",
                ),
                _ => (
                    503,
                    "ServiceUnavailable",
                    "The request has failed due to a temporary failure of the server.",
                ),
            };
            Response::builder()
                .status(status)
                .header("content-type", "application/x-amz-json-1.1")
                .header("x-amzn-RequestId", &request_id)
                .header("x-amzn-ErrorType", code)
                .body(Full::new(Bytes::from(format!(
                    "{{\"__type\":\"{code}\",\"message\":\"{message}\"}}"
                ))))
                .map_err(Unanswered::from)?
        }
    };
    Ok(response)
}

/// A request id shaped like AWS's (a UUID); unique, not secret.
fn request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let mut random = SplitMix(
        COUNTER.fetch_add(1, Ordering::SeqCst)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos() as u64)
                .unwrap_or_default(),
    );
    let (high, low) = (random.next(), random.next());
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xfff,
        (low >> 48) & 0xfff,
        low & 0xffff_ffff_ffff
    )
}

/// SplitMix64: small, fast and the same everywhere, so a seed means the same
/// decisions on every machine and every version of every crate.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
