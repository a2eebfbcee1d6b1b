//! Offline checks of task and service definition templates (`task-defs/*.json`).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::placeholders;
use crate::error::Problem;

/// Which template a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateKind {
    TaskDefinition,
    ServiceDefinition,
}

/// What the checks know about the rest of the stack.
pub struct CheckContext<'a> {
    /// Outputs of the network and platform templates (`stack.<Output>`).
    pub stack_outputs: &'a BTreeSet<String>,
    /// Container names of the service's task definition (`image.<container>`).
    pub containers: &'a BTreeSet<String>,
    /// The parameter paths (under `/stackup/<stack>/`) the tasks' execution
    /// role may read, as IAM resource patterns; `None` when the platform
    /// template is the stack's own (its role is its own business).
    pub readable_parameters: Option<&'a [&'a str]>,
}

/// What the built-in platform's task execution role may read (its
/// `ReadCookiesAndApplicationParameters` statement; tests/iam_policies.rs
/// proves the whole matrix): a secret anywhere else stops its tasks with
/// AccessDenied when ECS fetches it.
pub const TASK_READABLE_PARAMETERS: &[&str] =
    &["cookie", "cookies/*", "database/app-password", "app/*"];

/// Whether `path` matches one of the IAM resource patterns `patterns`
/// (a trailing `*` stands for the rest of the name).
fn readable(path: &str, patterns: &[&str]) -> bool {
    patterns
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix) && path.len() > prefix.len(),
            None => path == *pattern,
        })
}

/// Last words of environment variable names that hold a secret, which must
/// come from `secrets[]`, never `environment[]` (ARCHITECTURE.md, "What never prints").
/// Matched on whole words so that `PASSWORD_MIN_LENGTH`, `COOKIE_DOMAIN` or
/// `TOKENIZERS_PARALLELISM` (settings about secrets, not secrets) pass.
const SECRET_LAST_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "PASS",
    "SECRET",
    "TOKEN",
    "COOKIE",
    "CREDENTIALS",
];

/// Last two words of names that hold a secret: keys, and URLs, which carry
/// the password in them.
const SECRET_LAST_PAIRS: &[[&str; 2]] = &[
    ["PRIVATE", "KEY"],
    ["API", "KEY"],
    ["SECRET", "KEY"],
    ["ACCESS", "KEY"],
    ["DATABASE", "URL"],
];

/// Whether an environment variable of this name holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let words: Vec<&str> = upper.split('_').filter(|word| !word.is_empty()).collect();
    let Some(last) = words.last() else {
        return false;
    };
    // Phoenix's signing secret.
    upper == "SECRET_KEY_BASE"
        || SECRET_LAST_WORDS.contains(last)
        || SECRET_LAST_PAIRS
            .iter()
            .any(|pair| words.ends_with(pair.as_slice()))
}

/// Parse a template; a syntax error is one problem with its line.
pub fn parse(path: &Path, display: &Path) -> Result<Value, Problem> {
    read(path, display).map(|(value, _)| value)
}

/// Parse a template and keep its text, for line numbers.
pub fn read(path: &Path, display: &Path) -> Result<(Value, String), Problem> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| Problem::new(format!("cannot read template: {error}")).in_file(display))?;
    let value: Value = serde_json::from_str(&text).map_err(|error| {
        Problem::new(format!("is not valid JSON: {error}"))
            .in_file(display)
            .at_line(Some(error.line()))
            .fix("correct the JSON syntax at that line")
    })?;
    if !value.is_object() {
        return Err(Problem::new("must be a JSON object")
            .in_file(display)
            .fix("write the template as { ... } with the fields of the ECS API"));
    }
    Ok((value, text))
}

/// Container names of a task definition template.
pub fn container_names(task_definition: &Value) -> BTreeSet<String> {
    task_definition
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .map(|containers| {
            containers
                .iter()
                .filter_map(|container| container.get("name").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The name of the variable the Erlang cookie reaches a release as.
pub const COOKIE_VARIABLE: &str = "RELEASE_COOKIE";

/// What is off in how a task definition template hands its containers the
/// stack's Erlang cookie, if anything: no secret refers to `{{cookie.arn}}`
/// (the nodes get no shared cookie, and `cookie = "release"` does nothing),
/// or it is given under another name than the one a release reads.
pub fn cookie_reference_warning(task_definition: &Value) -> Option<String> {
    let secrets = task_definition
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|container| container.get("secrets").and_then(Value::as_array))
        .flatten();
    let names: Vec<&str> = secrets
        .filter(|secret| secret.get("valueFrom").and_then(Value::as_str) == Some("{{cookie.arn}}"))
        .filter_map(|secret| secret.get("name").and_then(Value::as_str))
        .collect();
    if names.is_empty() {
        Some(format!(
            "no container is given the Erlang cookie: its nodes share no cookie (and `cookie` in the stack file has no effect); add {{\"name\": \"{COOKIE_VARIABLE}\", \"valueFrom\": \"{{{{cookie.arn}}}}\"}} to the secrets of the release's container"
        ))
    } else if !names.contains(&COOKIE_VARIABLE) {
        Some(format!(
            "the Erlang cookie is given as {}, but a release reads {COOKIE_VARIABLE}: name the secret {COOKIE_VARIABLE}",
            names.join(", ")
        ))
    } else {
        None
    }
}

/// Warnings on how the release's container (the one given the cookie) is
/// named and listens, for a service whose nodes are named by `mode`: the
/// entrypoint reads NODE_NAME_MODE and DISTRIBUTION_PORTS from the task
/// definition, and a DNS strategy (DNS_CLUSTER_QUERY, libcluster's DNSPoll)
/// builds `<basename>@<ip>` names that only `ip` and `release` nodes answer to.
pub fn clustering_warnings(
    task_definition: &Value,
    mode: crate::config::NodeNameMode,
) -> Vec<String> {
    use crate::config::NodeNameMode;
    let containers = task_definition
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let mut warnings = Vec::new();
    for container in containers {
        let gets_cookie = container
            .get("secrets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|secret| {
                secret.get("valueFrom").and_then(Value::as_str) == Some("{{cookie.arn}}")
            });
        if !gets_cookie {
            continue;
        }
        let name = container.get("name").and_then(Value::as_str).unwrap_or("?");
        let environment: Vec<(&str, &str)> = container
            .get("environment")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|variable| {
                Some((
                    variable.get("name")?.as_str()?,
                    variable.get("value")?.as_str()?,
                ))
            })
            .collect();
        let value = |wanted: &str| {
            environment
                .iter()
                .find(|(variable, _)| *variable == wanted)
                .map(|(_, value)| *value)
        };
        match value("NODE_NAME_MODE") {
            None if mode != NodeNameMode::Ip => warnings.push(format!(
                "container {name}: node_name is \"{}\" but NODE_NAME_MODE is not set: the entrypoint names nodes <basename>@<ip> and stackup looks for another name; add {{\"name\": \"NODE_NAME_MODE\", \"value\": \"{{{{service.node_name}}}}\"}}",
                mode.as_str()
            )),
            Some(set) if set != "{{service.node_name}}" && set != mode.as_str() => {
                warnings.push(format!(
                    "container {name}: NODE_NAME_MODE is \"{set}\" but node_name is \"{}\": stackup would look for nodes by another name than they have; write \"{{{{service.node_name}}}}\"",
                    mode.as_str()
                ));
            }
            _ => {}
        }
        if value("DISTRIBUTION_PORTS").is_none() {
            warnings.push(format!(
                "container {name}: DISTRIBUTION_PORTS is not set: the VM listens for distribution on a random port, which the security group blocks between tasks; add {{\"name\": \"DISTRIBUTION_PORTS\", \"value\": \"{{{{service.distribution_ports}}}}\"}}"
            ));
        }
        let dns_strategy = environment
            .iter()
            .any(|(variable, _)| *variable == "DNS_CLUSTER_QUERY" || variable.contains("DNS_POLL"));
        if dns_strategy && mode == NodeNameMode::Task {
            warnings.push(format!(
                "container {name}: a DNS strategy builds <basename>@<ip> names, which nodes named by task (node_name = \"task\") never answer to: use node_name = \"ip\" or \"release\""
            ));
        }
    }
    warnings
}

/// Every problem of one template.
pub fn check(
    kind: TemplateKind,
    template: &Value,
    text_for_lines: &str,
    display: &Path,
    context: &CheckContext<'_>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let line_of = |needle: &str| {
        text_for_lines
            .find(needle)
            .map(|offset| text_for_lines[..offset].matches('\n').count() + 1)
    };
    let problem = |message: String, key: &str, line: Option<usize>, fix: &str| {
        Problem::new(message)
            .in_file(display)
            .at_line(line)
            .at_key(key)
            .fix(fix)
    };

    if kind == TemplateKind::TaskDefinition {
        match template.get("containerDefinitions").and_then(Value::as_array) {
            Some(containers) if !containers.is_empty() => {
                let mut seen = BTreeSet::new();
                for (index, container) in containers.iter().enumerate() {
                    let pointer = format!("/containerDefinitions/{index}");
                    match container.get("name").and_then(Value::as_str) {
                        Some(name) if !seen.insert(name.to_string()) => problems.push(problem(
                            format!("container name \"{name}\" is used twice"),
                            &pointer,
                            line_of(&format!("\"{name}\"")),
                            "give every container its own name",
                        )),
                        Some(_) => {}
                        None => problems.push(problem(
                            "container has no \"name\"".into(),
                            &pointer,
                            None,
                            "add \"name\": \"web\"",
                        )),
                    }
                    if container.get("image").and_then(Value::as_str).is_none() {
                        problems.push(problem(
                            "container has no \"image\"".into(),
                            &pointer,
                            None,
                            "add \"image\": \"{{image.web}}\" and pass --image web=... to deploy-release",
                        ));
                    }
                    check_environment(container, &pointer, &mut problems, &problem, &line_of);
                }
            }
            _ => problems.push(problem(
                "has no containers".into(),
                "/containerDefinitions",
                None,
                "add \"containerDefinitions\": [{ \"name\": \"web\", \"image\": \"{{image.web}}\", ... }]",
            )),
        }
    }

    if kind == TemplateKind::ServiceDefinition && !context.containers.is_empty() {
        // ECS would refuse it, but only after the revision was registered.
        let balancers = template.get("loadBalancers").and_then(Value::as_array);
        for (index, balancer) in balancers.into_iter().flatten().enumerate() {
            let Some(name) = balancer.get("containerName").and_then(Value::as_str) else {
                continue;
            };
            if !name.contains("{{") && !context.containers.contains(name) {
                problems.push(problem(
                    format!("{name} names no container of the service's task definition"),
                    &format!("/loadBalancers/{index}/containerName"),
                    line_of(&format!("\"{name}\"")),
                    &format!(
                        "use one of: {}",
                        context
                            .containers
                            .iter()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
    }

    let (found, syntax) = placeholders::scan(template);
    for bad in syntax {
        problems.push(problem(
            bad.message,
            &bad.pointer,
            None,
            "write placeholders as {{ name }}",
        ));
    }
    for placeholder in found {
        let line = line_of(&placeholder.name);
        let (namespace, rest) = placeholder
            .name
            .split_once('.')
            .unwrap_or((&placeholder.name, ""));
        if !placeholders::is_known(&placeholder.name) {
            // A misspelt namespace keeps what follows it: {{imgae.web}}.
            let candidates: Vec<String> = placeholders::PLAIN_NAMES
                .iter()
                .chain(placeholders::DOTTED_NAMES)
                .map(|name| name.to_string())
                .chain(
                    placeholders::OPEN_NAMESPACES
                        .iter()
                        .filter(|_| !rest.is_empty())
                        .map(|open| format!("{open}.{rest}")),
                )
                .collect();
            let near =
                crate::suggest::closest(&placeholder.name, candidates.iter().map(String::as_str))
                    .map(|near| format!("did you mean {{{{{near}}}}}? Otherwise "))
                    .unwrap_or_default();
            problems.push(problem(
                format!("unknown placeholder {{{{{}}}}}", placeholder.name),
                &placeholder.pointer,
                line,
                &format!("{near}use image.<container>, stack.<Output>, parameter.<path>, cookie.arn, service.*, app, environment, version, stack_id, region, account_id, family, task_definition or release.id (see the README)"),
            ));
        } else if namespace == "image" && !context.containers.contains(rest) {
            problems.push(problem(
                format!(
                    "{{{{{}}}}} names no container of the task definition",
                    placeholder.name
                ),
                &placeholder.pointer,
                line,
                &suggestion("image", rest, context.containers),
            ));
        } else if namespace == "parameter"
            && context
                .readable_parameters
                .is_some_and(|patterns| !readable(rest, patterns))
        {
            let patterns = context.readable_parameters.unwrap_or_default();
            problems.push(problem(
                format!(
                    "{{{{{}}}}}: the tasks' execution role may read only {} under the stack's prefix, so ECS could not fetch this secret and the tasks would not start (AccessDenied)",
                    placeholder.name,
                    patterns.join(", ")
                ),
                &placeholder.pointer,
                line,
                &format!(
                    "store the secret under app/ and write {{{{parameter.app/{}}}}}",
                    rest.rsplit('/').next().unwrap_or(rest)
                ),
            ));
        } else if namespace == "stack" && !context.stack_outputs.contains(rest) {
            problems.push(problem(
                format!(
                    "{{{{{}}}}} is not an output of the stack's templates",
                    placeholder.name
                ),
                &placeholder.pointer,
                line,
                &suggestion("stack", rest, context.stack_outputs),
            ));
        }
    }
    problems
}

/// "did you mean" when a name is near one that exists, else the list of names.
fn suggestion(namespace: &str, name: &str, known: &BTreeSet<String>) -> String {
    match crate::suggest::closest(name, known.iter().map(String::as_str)) {
        Some(near) => format!("did you mean {{{{{namespace}.{near}}}}}?"),
        None => format!(
            "use one of: {}",
            known
                .iter()
                .map(|known| format!("{namespace}.{known}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn check_environment(
    container: &Value,
    pointer: &str,
    problems: &mut Vec<Problem>,
    problem: &impl Fn(String, &str, Option<usize>, &str) -> Problem,
    line_of: &impl Fn(&str) -> Option<usize>,
) {
    let Some(environment) = container.get("environment").and_then(Value::as_array) else {
        return;
    };
    for (index, variable) in environment.iter().enumerate() {
        let name = variable
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let value = variable
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if is_secret_name(name) && !value.is_empty() {
            problems.push(problem(
                format!("{name} looks like a secret but is given as a plain value in the task definition"),
                &format!("{pointer}/environment/{index}"),
                line_of(&format!("\"{name}\"")),
                "move it to \"secrets\": [{ \"name\": ..., \"valueFrom\": \"{{parameter.<path>}}\" }] so that only an SSM reference is stored",
            ));
        }
    }
}

/// The ECS API whose field names a template takes, with its reference.
impl TemplateKind {
    fn what(self) -> &'static str {
        match self {
            TemplateKind::TaskDefinition => "task definition",
            TemplateKind::ServiceDefinition => "service definition",
        }
    }

    fn api(self) -> &'static str {
        match self {
            TemplateKind::TaskDefinition => "RegisterTaskDefinition",
            TemplateKind::ServiceDefinition => "CreateService",
        }
    }

    fn reference(self) -> &'static str {
        match self {
            TemplateKind::TaskDefinition => {
                "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html"
            }
            TemplateKind::ServiceDefinition => {
                "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html"
            }
        }
    }

    /// The key of `[services.<name>]` that names a template of this kind.
    fn stack_key(self) -> &'static str {
        match self {
            TemplateKind::TaskDefinition => "task_definition",
            TemplateKind::ServiceDefinition => "service_definition",
        }
    }

    /// Fields only the other kind has: a file with one of them is the other kind.
    fn other_kind_fields(self) -> &'static [&'static str] {
        match self {
            TemplateKind::TaskDefinition => &["serviceName", "loadBalancers", "desiredCount"],
            TemplateKind::ServiceDefinition => &["family", "containerDefinitions"],
        }
    }
}

/// A template being read into the ECS model: which kind, where it is and its
/// text (for line numbers), and the service of the stack file it is for.
pub struct Source<'a> {
    pub kind: TemplateKind,
    pub file: &'a Path,
    pub text: &'a str,
    pub service: &'a str,
}

impl Source<'_> {
    fn problem(&self, message: String, pointer: Option<&str>, fix: String) -> Problem {
        let mut problem = Problem::new(message)
            .in_file(self.file)
            .at_line(pointer.and_then(|pointer| line_of_pointer(self.text, pointer)))
            .fix(fix);
        if let Some(pointer) = pointer {
            problem = problem.at_key(pointer);
        }
        problem
    }
}

/// A field stackup decides itself: its placeholder, and what another value
/// would do.
struct Decided {
    field: &'static str,
    placeholder: &'static str,
    /// Whether the value can be shown: known offline, and meaningful.
    show: bool,
    wrong: &'static str,
}

const TASK_DECIDED: &[Decided] = &[Decided {
    field: "family",
    placeholder: "family",
    show: true,
    wrong: "a deploy would register revisions of another task family, beside the service's own",
}];

const SERVICE_DECIDED: &[Decided] = &[
    Decided {
        field: "cluster",
        placeholder: "stack.ClusterName",
        show: false,
        wrong: "the service must run in the stack's cluster (its ClusterName output), where stackup looks for it",
    },
    Decided {
        field: "serviceName",
        placeholder: "service.name",
        show: true,
        wrong: "a deploy would create a second ECS service beside the stack's service",
    },
    Decided {
        field: "taskDefinition",
        placeholder: "task_definition",
        show: false,
        wrong: "it must be the revision being deployed",
    },
];

/// Fill in the fields stackup decides (family; cluster, serviceName,
/// taskDefinition) where a resolved template leaves them out, and refuse
/// other values where it gives them.
pub fn settle_decided_fields(
    source: &Source<'_>,
    resolved: &mut Value,
    lookup: &impl Fn(&str) -> Option<Value>,
) -> Vec<Problem> {
    let decided = match source.kind {
        TemplateKind::TaskDefinition => TASK_DECIDED,
        TemplateKind::ServiceDefinition => SERVICE_DECIDED,
    };
    let mut problems = Vec::new();
    let Some(object) = resolved.as_object_mut() else {
        return problems;
    };
    for field in decided {
        let Some(expected) = lookup(field.placeholder) else {
            continue;
        };
        match object.get(field.field) {
            None => {
                object.insert(field.field.to_string(), expected);
            }
            Some(given) if *given == expected => {}
            Some(given) => {
                let shown = match (&expected, field.show) {
                    (Value::String(expected), true) => format!(", not {expected}"),
                    _ => String::new(),
                };
                let message = if field.field == "taskDefinition" {
                    "taskDefinition must be the revision being deployed".to_string()
                } else {
                    format!("{} is {given}{shown}: {}", field.field, field.wrong)
                };
                problems.push(source.problem(
                    message,
                    Some(&format!("/{}", field.field)),
                    format!(
                        "write \"{}\": \"{{{{{}}}}}\", or leave it out: stackup fills it in",
                        field.field, field.placeholder
                    ),
                ));
            }
        }
    }
    problems
}

/// Whether a string is a placeholder left in as a stand-in for a value only
/// known at deploy time (`validate`, offline).
fn is_stand_in(text: &str) -> bool {
    text.starts_with("{{")
        && text.ends_with("}}")
        && placeholders::names_in(text).is_ok_and(|names| names.len() == 1)
        && text.matches("{{").count() == 1
}

/// Values a stand-in at this place may become, so that only what is wrong
/// whatever the deploy fills in is refused: a number or a flag where the
/// model wants one; in a longer text (`"{{stack.Gb}} GB"`), the placeholders
/// as the digit 1.
fn stand_in_values(value: &Value) -> Vec<Value> {
    let Some(text) = value.as_str() else {
        return Vec::new();
    };
    if is_stand_in(text) {
        return vec![Value::from(0), Value::Bool(true)];
    }
    if !placeholders::names_in(text).is_ok_and(|names| !names.is_empty()) {
        return Vec::new();
    }
    let mut digits = String::new();
    let mut rest = text;
    while let Some((before, after)) = rest.split_once("{{") {
        digits.push_str(before);
        digits.push('1');
        rest = after.split_once("}}").map_or("", |(_, after)| after);
    }
    digits.push_str(rest);
    vec![Value::String(digits)]
}

/// Values that take the place of a refused one, so that the rest of the
/// template is read and its other problems reported in the same run.
fn neutral_values() -> [Value; 5] {
    [
        Value::Null,
        Value::from(0),
        Value::Bool(true),
        Value::String(String::new()),
        Value::Array(Vec::new()),
    ]
}

/// What serde refused in a document, and where.
struct Refusal {
    /// serde's message, without a position.
    message: String,
    /// JSON pointer of the refused value (the member, for an unknown field;
    /// the object, for a missing one).
    pointer: Option<String>,
}

/// Read a document into the model, or say what was refused and where.
fn refusal_of<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, Refusal> {
    let error = match serde_json::from_value::<T>(value.clone()) {
        Ok(model) => return Ok(model),
        Err(error) => error,
    };
    // serde_json's errors from a Value have no position; read from text, the
    // same error has one, which the text's spans turn into a pointer.
    let spans = Spans::of(value);
    match serde_json::from_str::<T>(&spans.text) {
        Err(located) if located.line() == 1 => {
            let suffix = format!(" at line 1 column {}", located.column());
            let message = located.to_string();
            let message = message
                .strip_suffix(&suffix)
                .unwrap_or(&message)
                .to_string();
            let pointer = spans.pointer_at(located.column(), &message);
            Err(Refusal { message, pointer })
        }
        _ => Err(Refusal {
            message: error.to_string(),
            pointer: None,
        }),
    }
}

/// A document written as compact JSON, with where each value and key is.
struct Spans {
    text: String,
    /// Every value: its start, its end (exclusive), its pointer, and for an
    /// object the pointer of its last member.
    values: Vec<Span>,
    /// Every object key: its end (exclusive) and the member's pointer.
    keys: Vec<(usize, String)>,
}

struct Span {
    start: usize,
    end: usize,
    pointer: String,
    compound: bool,
    last_member: Option<String>,
}

impl Spans {
    fn of(value: &Value) -> Spans {
        let mut spans = Spans {
            text: String::new(),
            values: Vec::new(),
            keys: Vec::new(),
        };
        spans.write(value, &mut String::new());
        spans
    }

    fn write(&mut self, value: &Value, pointer: &mut String) {
        let start = self.text.len();
        let mut last_member = None;
        match value {
            Value::Object(map) => {
                self.text.push('{');
                for (index, (key, item)) in map.iter().enumerate() {
                    if index > 0 {
                        self.text.push(',');
                    }
                    self.text.push_str(&Value::String(key.clone()).to_string());
                    let length = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&escape_pointer(key));
                    self.keys.push((self.text.len(), pointer.clone()));
                    self.text.push(':');
                    self.write(item, pointer);
                    last_member = Some(pointer.clone());
                    pointer.truncate(length);
                }
                self.text.push('}');
            }
            Value::Array(items) => {
                self.text.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        self.text.push(',');
                    }
                    let length = pointer.len();
                    pointer.push_str(&format!("/{index}"));
                    self.write(item, pointer);
                    pointer.truncate(length);
                }
                self.text.push(']');
            }
            scalar => self.text.push_str(&scalar.to_string()),
        }
        self.values.push(Span {
            start,
            end: self.text.len(),
            pointer: pointer.clone(),
            compound: value.is_object() || value.is_array(),
            last_member,
        });
    }

    /// The pointer of what serde refused when it stopped at `offset`
    /// (serde_json's column on a one-line text). serde_json stops after an
    /// unknown key, at the start of an object or array of the wrong type,
    /// after a scalar of the wrong type, and after the object for a missing
    /// field. A value refused by a field's own deserializer is placed once
    /// the object holding it is left: after the value when another member
    /// follows (at its comma), else after the object.
    fn pointer_at(&self, offset: usize, message: &str) -> Option<String> {
        if message.starts_with("unknown field `") {
            return self
                .keys
                .iter()
                .find(|(end, _)| *end == offset)
                .map(|(_, pointer)| pointer.clone());
        }
        let ending = self.values.iter().find(|span| span.end == offset);
        if message.starts_with("missing field `") {
            return ending.map(|span| span.pointer.clone());
        }
        if let Some(span) = self
            .values
            .iter()
            .find(|span| span.compound && span.start == offset)
        {
            return Some(span.pointer.clone());
        }
        let span = ending?;
        let Some(last_member) = &span.last_member else {
            return Some(span.pointer.clone());
        };
        // After an object: the object itself was refused, or the member that
        // ended it. serde's messages show the value refused.
        let followed_by_member = self.text.as_bytes().get(offset) == Some(&b',');
        let shown = self
            .text
            .get(span.start..span.end)
            .is_some_and(|text| message.contains(text));
        if followed_by_member && shown {
            Some(span.pointer.clone())
        } else {
            Some(last_member.clone())
        }
    }
}

/// Read a resolved template into the ECS model; the first problem, for
/// deploy-release (validate, which runs before it, reports them all).
pub fn read_model<T: serde::de::DeserializeOwned>(
    source: &Source<'_>,
    template: &Value,
    resolved: &Value,
) -> Result<T, Problem> {
    read_model_problems(source, template, resolved).map_err(|mut problems| problems.remove(0))
}

/// Read a resolved template into the ECS model, or every problem serde finds
/// in it: each unknown field and each value of the wrong type, in document
/// order. Offline, placeholders known only at deploy time are left in as
/// stand-ins (`"{{stack.X}}"`); where the model wants a number or a flag, a
/// stand-in becomes 0 or true, so that only what is wrong whatever the
/// deploy fills in is refused. The error is never empty.
pub fn read_model_problems<T: serde::de::DeserializeOwned>(
    source: &Source<'_>,
    template: &Value,
    resolved: &Value,
) -> Result<T, Vec<Problem>> {
    let mut value = resolved.clone();
    let mut problems = Vec::new();
    // Each round removes a field or settles a value; the bound only guards
    // against a model that refuses every value put in a place.
    let rounds = Spans::of(resolved).values.len() * 2 + 2;
    for _ in 0..rounds {
        let refusal = match refusal_of::<T>(&value) {
            Ok(model) if problems.is_empty() => return Ok(model),
            Ok(_) => return Err(problems),
            Err(refusal) => refusal,
        };
        if problems.is_empty() {
            if let Some(problem) = other_kind_problem(source, &value) {
                return Err(vec![problem]);
            }
        }
        let pointer = match (
            &refusal.pointer,
            refusal.message.starts_with("missing field `"),
        ) {
            (Some(pointer), false) => pointer.clone(),
            _ => {
                problems.push(model_problem(source, template, &value, &refusal));
                return Err(problems);
            }
        };
        if refusal.message.starts_with("unknown field `") {
            problems.push(model_problem(source, template, &value, &refusal));
            let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", &pointer));
            let key = key.replace("~1", "/").replace("~0", "~");
            match value.pointer_mut(parent).and_then(Value::as_object_mut) {
                Some(object) => {
                    object.shift_remove(&key);
                }
                None => return Err(problems),
            }
            continue;
        }
        let current = value.pointer(&pointer).cloned().unwrap_or(Value::Null);
        // A value that no longer stops serde here is settled.
        let settle = |candidates: &[Value]| {
            candidates.iter().find_map(|candidate| {
                let mut trial = value.clone();
                *trial.pointer_mut(&pointer)? = candidate.clone();
                match refusal_of::<T>(&trial) {
                    Err(next) if next.pointer.as_deref() == Some(pointer.as_str()) => None,
                    _ => Some(trial),
                }
            })
        };
        if let Some(trial) = settle(&stand_in_values(&current)) {
            value = trial;
            continue;
        }
        problems.push(model_problem(source, template, &value, &refusal));
        match settle(&neutral_values()) {
            Some(trial) => value = trial,
            None => return Err(problems),
        }
    }
    if problems.is_empty() {
        problems.push(source.problem(
            format!("{}: cannot be read", kind_heading(source.kind)),
            None,
            format!(
                "give every field a value of the type ECS {} takes ({})",
                source.kind.api(),
                source.kind.reference()
            ),
        ));
    }
    Err(problems)
}

fn kind_heading(kind: TemplateKind) -> &'static str {
    match kind {
        TemplateKind::TaskDefinition => "is not a task definition stackup can register",
        TemplateKind::ServiceDefinition => "is not a service definition stackup can use",
    }
}

/// A template with a field only the other kind has was named as the wrong
/// kind in the stack file: that, not its fields, is the problem.
fn other_kind_problem(source: &Source<'_>, value: &Value) -> Option<Problem> {
    let kind = source.kind;
    let api = kind.api();
    let field = kind
        .other_kind_fields()
        .iter()
        .find(|field| value.get(**field).is_some())?;
    let other = match kind {
        TemplateKind::TaskDefinition => TemplateKind::ServiceDefinition,
        TemplateKind::ServiceDefinition => TemplateKind::TaskDefinition,
    };
    Some(source.problem(
        format!(
            "{}: it has \"{field}\", so it looks like a {}, but [services.{}] {} names it as the {}",
            kind_heading(kind),
            other.what(),
            source.service,
            kind.stack_key(),
            kind.what()
        ),
        None,
        format!(
            "point {} of [services.{}] at a {} template (the fields of ECS {api}), and {} at this one",
            kind.stack_key(),
            source.service,
            kind.what(),
            other.stack_key()
        ),
    ))
}

/// How to write a field whose values ECS takes in a form of its own.
fn value_fix(kind: TemplateKind, pointer: &str) -> Option<&'static str> {
    match (kind, pointer) {
        (TemplateKind::TaskDefinition, "/cpu") => {
            Some("write a number of CPU units like \"256\" or of vCPU like \"1 vCPU\"")
        }
        (TemplateKind::TaskDefinition, "/memory") => {
            Some("write a number of MiB like \"512\" or \"1 GB\"")
        }
        _ => None,
    }
}

/// What serde refused in a template, as a problem with its place and fix.
fn model_problem(
    source: &Source<'_>,
    template: &Value,
    value: &Value,
    refusal: &Refusal,
) -> Problem {
    let kind = source.kind;
    let api = kind.api();
    let reference = kind.reference();
    let heading = kind_heading(kind);
    let error = refusal.message.as_str();
    // The whole document is no place worth naming.
    let pointer = refusal
        .pointer
        .as_deref()
        .filter(|pointer| !pointer.is_empty());
    if let Some(rest) = error.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let valid: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let fix = match crate::suggest::closest(field, valid.iter().copied()) {
            Some(near) => {
                format!("did you mean \"{near}\"? Field names are those of ECS {api} ({reference})")
            }
            None => format!(
                "use a field of ECS {api} ({reference}); fields here: {}",
                valid.join(", ")
            ),
        };
        return source.problem(format!("{heading}: unknown field `{field}`"), pointer, fix);
    }
    if let Some(rest) = error.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        return source.problem(
            format!("{heading}: missing field `{field}`"),
            pointer,
            format!("add \"{field}\": ECS {api} needs it ({reference})"),
        );
    }
    // A bad value: the field name is right, the value is not. Without a
    // place from serde, the strings its message quotes are the candidates.
    let candidates = match pointer {
        Some(pointer) => vec![pointer.to_string()],
        None => first_quoted(error)
            .map(|quoted| pointers_of_string(value, quoted))
            .unwrap_or_default(),
    };
    let (pointer, elsewhere) = match candidates.as_slice() {
        [one] => (Some(one.as_str()), String::new()),
        [] => (None, String::new()),
        several => (None, format!(" (at {})", several.join(" or "))),
    };
    let from = pointer
        .and_then(|pointer| template.pointer(pointer))
        .and_then(Value::as_str)
        .filter(|text| text.contains("{{"))
        .map(|text| format!(" (from \"{text}\")"))
        .unwrap_or_default();
    let fix = match pointer.and_then(|pointer| value_fix(kind, pointer)) {
        Some(how) => format!("{how} (ECS {api}: {reference}); a placeholder here must resolve to one"),
        None => format!(
            "give this field a value of the type ECS {api} takes ({reference}); a placeholder here must resolve to one"
        ),
    };
    source.problem(format!("{heading}: {error}{from}{elsewhere}"), pointer, fix)
}

/// The text between the first pair of double quotes of a message.
fn first_quoted(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once('"')?;
    rest.split_once('"').map(|(quoted, _)| quoted)
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// JSON pointers of the strings equal to `text`, in document order.
fn pointers_of_string(value: &Value, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    visit_all(value, &mut String::new(), &mut |pointer, item| {
        if item.as_str() == Some(text) {
            found.push(pointer.to_string());
        }
    });
    found
}

fn visit_all(value: &Value, pointer: &mut String, visit: &mut impl FnMut(&str, &Value)) {
    visit(pointer, value);
    let mut descend = |key: &str, item: &Value, pointer: &mut String| {
        let length = pointer.len();
        pointer.push('/');
        pointer.push_str(&escape_pointer(key));
        visit_all(item, pointer, visit);
        pointer.truncate(length);
    };
    match value {
        Value::Object(map) => map
            .iter()
            .for_each(|(key, item)| descend(key, item, pointer)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(index, item)| descend(&index.to_string(), item, pointer)),
        _ => {}
    }
}

/// The line (from 1) where the value at a JSON pointer starts in a JSON text.
pub fn line_of_pointer(text: &str, pointer: &str) -> Option<usize> {
    let path: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|part| part.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut scanner = LineScanner {
        bytes: text.as_bytes(),
        position: 0,
        line: 1,
    };
    scanner.find(&path)
}

/// Just enough of a JSON reader to find where a value starts.
struct LineScanner<'a> {
    bytes: &'a [u8],
    position: usize,
    line: usize,
}

impl LineScanner<'_> {
    fn skip_space(&mut self) {
        while let Some(&byte) = self.bytes.get(self.position) {
            match byte {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' | b',' | b':' => {}
                _ => return,
            }
            self.position += 1;
        }
    }

    /// The string starting at the current position, decoded.
    fn string(&mut self) -> Option<String> {
        let start = self.position;
        self.position += 1;
        while let Some(&byte) = self.bytes.get(self.position) {
            self.position += 1;
            match byte {
                b'\\' => self.position += 1,
                b'"' => {
                    let raw = std::str::from_utf8(self.bytes.get(start..self.position)?).ok()?;
                    return serde_json::from_str(raw).ok();
                }
                _ => {}
            }
        }
        None
    }

    /// Skip the value here, or find `path` inside it; the line where it starts.
    fn find(&mut self, path: &[String]) -> Option<usize> {
        self.skip_space();
        if path.is_empty() {
            return Some(self.line);
        }
        let (wanted, rest) = path.split_first()?;
        match self.bytes.get(self.position)? {
            b'{' => {
                self.position += 1;
                loop {
                    self.skip_space();
                    match self.bytes.get(self.position)? {
                        b'}' => return None,
                        b'"' => {
                            let key = self.string()?;
                            if key == *wanted {
                                return self.find(rest);
                            }
                            self.skip_value()?;
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.position += 1;
                let index: usize = wanted.parse().ok()?;
                for _ in 0..index {
                    self.skip_space();
                    if self.bytes.get(self.position) == Some(&b']') {
                        return None;
                    }
                    self.skip_value()?;
                }
                self.skip_space();
                if self.bytes.get(self.position) == Some(&b']') {
                    return None;
                }
                self.find(rest)
            }
            _ => None,
        }
    }

    fn skip_value(&mut self) -> Option<()> {
        self.skip_space();
        match self.bytes.get(self.position)? {
            b'"' => self.string().map(|_| ()),
            open @ (b'{' | b'[') => {
                let close = if *open == b'{' { b'}' } else { b']' };
                self.position += 1;
                loop {
                    self.skip_space();
                    if *self.bytes.get(self.position)? == close {
                        self.position += 1;
                        return Some(());
                    }
                    self.skip_value()?;
                }
            }
            _ => {
                while let Some(&byte) = self.bytes.get(self.position) {
                    if b",}] \t\r\n".contains(&byte) {
                        break;
                    }
                    self.position += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cookie_must_reach_a_container_as_release_cookie() {
        let with = |secrets: serde_json::Value| {
            serde_json::json!({"containerDefinitions": [
                {"name": "envoy", "secrets": []},
                {"name": "web", "secrets": secrets},
            ]})
        };
        let given =
            with(serde_json::json!([{"name": "RELEASE_COOKIE", "valueFrom": "{{cookie.arn}}"}]));
        assert_eq!(super::cookie_reference_warning(&given), None);
        let renamed =
            with(serde_json::json!([{"name": "ERLANG_COOKIE", "valueFrom": "{{cookie.arn}}"}]));
        assert!(super::cookie_reference_warning(&renamed)
            .is_some_and(|warning| warning.contains("given as ERLANG_COOKIE")));
        let missing = with(
            serde_json::json!([{"name": "DATABASE_PASSWORD", "valueFrom": "{{parameter.db}}"}]),
        );
        assert!(super::cookie_reference_warning(&missing)
            .is_some_and(|warning| warning.contains("no container is given the Erlang cookie")));
        assert!(super::cookie_reference_warning(&serde_json::json!({})).is_some());
    }

    use super::*;
    use crate::release::ecs_model::TaskDefinition;
    use serde_json::json;

    fn check_task(template: Value) -> Vec<String> {
        let outputs: BTreeSet<String> = ["LogGroupName".to_string()].into();
        let containers = container_names(&template);
        let text = serde_json::to_string_pretty(&template).expect("serialises");
        check(
            TemplateKind::TaskDefinition,
            &template,
            &text,
            Path::new("task-defs/web.json"),
            &CheckContext {
                stack_outputs: &outputs,
                containers: &containers,
                readable_parameters: Some(TASK_READABLE_PARAMETERS),
            },
        )
        .into_iter()
        .map(|problem| problem.message)
        .collect()
    }

    #[test]
    fn a_secret_the_execution_role_cannot_read_is_refused() {
        let task = |path: &str| {
            check_task(
                json!({"containerDefinitions": [{"name": "web", "image": "{{image.web}}",
                "logConfiguration": {"options": {"awslogs-group": "{{stack.LogGroupName}}"}},
                "secrets": [{"name": "API_KEY", "valueFrom": format!("{{{{parameter.{path}}}}}")}]}]}),
            )
        };
        assert!(task("app/api-key").is_empty());
        assert!(task("database/app-password").is_empty());
        let refused = task("database/master-password");
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(
            refused[0].contains("may read only cookie, cookies/*, database/app-password, app/*")
        );
        assert_eq!(task("secrets/api-key").len(), 1);
        assert_eq!(task("app/").len(), 1, "app/* needs a name after the slash");
    }

    #[test]
    fn a_good_task_definition_passes() {
        let problems = check_task(
            json!({"containerDefinitions": [{"name": "web", "image": "{{image.web}}",
            "logConfiguration": {"options": {"awslogs-group": "{{stack.LogGroupName}}"}},
            "secrets": [{"name": "RELEASE_COOKIE", "valueFrom": "{{cookie.arn}}"}]}]}),
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_load_balancer_must_name_a_container_of_the_task_definition() {
        let outputs = BTreeSet::new();
        let containers: BTreeSet<String> = ["web".to_string()].into();
        let service = json!({"loadBalancers": [
            {"containerName": "web"}, {"containerName": "api"}, {"containerName": "{{app}}"}
        ]});
        let problems = check(
            TemplateKind::ServiceDefinition,
            &service,
            &service.to_string(),
            Path::new("task-defs/web-service.json"),
            &CheckContext {
                stack_outputs: &outputs,
                containers: &containers,
                readable_parameters: Some(TASK_READABLE_PARAMETERS),
            },
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            problems[0].key.as_deref(),
            Some("/loadBalancers/1/containerName")
        );
        assert_eq!(problems[0].fix.as_deref(), Some("use one of: web"));
    }

    fn source<'a>(kind: TemplateKind, text: &'a str) -> Source<'a> {
        Source {
            kind,
            file: Path::new("task-defs/web.json"),
            text,
            service: "web",
        }
    }

    fn read_task(text: &str) -> Result<TaskDefinition, Problem> {
        let template: Value = serde_json::from_str(text).expect("JSON");
        read_model::<TaskDefinition>(
            &source(TemplateKind::TaskDefinition, text),
            &template,
            &template,
        )
    }

    #[test]
    fn lines_of_json_pointers() {
        let text =
            "{\n  \"a\": [1,\n    {\"b~/c\": \"x\"}],\n  \"d\": {\"e\": \"}\\\"\",\n \"f\": 2}\n}";
        assert_eq!(line_of_pointer(text, ""), Some(1));
        assert_eq!(line_of_pointer(text, "/a"), Some(2));
        assert_eq!(line_of_pointer(text, "/a/1/b~0~1c"), Some(3));
        assert_eq!(line_of_pointer(text, "/d/f"), Some(5));
        assert_eq!(line_of_pointer(text, "/a/2"), None);
        assert_eq!(line_of_pointer(text, "/nope"), None);
    }

    #[test]
    fn an_unknown_field_is_placed_and_the_near_name_offered() {
        let problem = read_task(
            "{\"family\": \"f\",\n \"containerDefinitions\": [{\"name\": \"web\", \"image\": \"i\",\n \"memoryReservaton\": 64}]}",
        )
        .expect_err("refused");
        assert_eq!(problem.line, Some(3));
        assert_eq!(
            problem.key.as_deref(),
            Some("/containerDefinitions/0/memoryReservaton")
        );
        assert!(problem
            .message
            .ends_with("unknown field `memoryReservaton`"));
        let fix = problem.fix.expect("fix");
        assert!(
            fix.starts_with("did you mean \"memoryReservation\"?"),
            "{fix}"
        );
        assert!(fix.contains("API_RegisterTaskDefinition.html"), "{fix}");
        assert!(!fix.contains("task-defs/web.json"), "{fix}");
    }

    #[test]
    fn a_bad_value_is_placed_without_blaming_the_name() {
        let text = "{\"family\": \"f\", \"containerDefinitions\": [\n{\"name\": \"web\", \"image\": \"i\", \"memory\": \"{{app}}\"}]}";
        let template: Value = serde_json::from_str(text).expect("JSON");
        let resolved =
            placeholders::resolve(&template, &|_| Some(json!("demo"))).expect("resolves");
        let problem = read_model::<TaskDefinition>(
            &source(TemplateKind::TaskDefinition, text),
            &template,
            &resolved,
        )
        .expect_err("refused");
        assert_eq!(
            problem.key.as_deref(),
            Some("/containerDefinitions/0/memory")
        );
        assert_eq!(problem.line, Some(2));
        assert!(
            problem
                .message
                .ends_with("\"demo\" is not a whole number (from \"{{app}}\")"),
            "{}",
            problem.message
        );
        assert!(!problem.fix.expect("fix").contains("field name"));
    }

    #[test]
    fn stand_ins_take_the_type_the_model_wants() {
        // The same output as a string and as a number; another as a flag.
        let model = read_task(
            r#"{"family": "{{stack.X}}", "containerDefinitions": [{"name": "web", "image": "{{image.web}}",
            "memory": "{{stack.X}}", "essential": "{{stack.Y}}", "user": "{{stack.Y}}"}]}"#,
        )
        .expect("stand-ins are accepted");
        assert_eq!(model.family, "{{stack.X}}");
        assert_eq!(model.container_definitions[0].memory, Some(0));
        assert_eq!(model.container_definitions[0].essential, Some(true));
        // Where no stand-in could fit, the template is refused.
        let problem = read_task(
            r#"{"family": "f", "containerDefinitions": [{"name": "web", "image": "i", "portMappings": "{{stack.X}}"}]}"#,
        )
        .expect_err("a list is wanted");
        assert_eq!(
            problem.key.as_deref(),
            Some("/containerDefinitions/0/portMappings")
        );
    }

    fn task_problems(text: &str) -> Vec<Problem> {
        let template: Value = serde_json::from_str(text).expect("JSON");
        let resolved =
            placeholders::resolve(&template, &|name| (name == "app").then(|| json!("shop")))
                .unwrap_or_else(|_| template.clone());
        read_model_problems::<TaskDefinition>(
            &source(TemplateKind::TaskDefinition, text),
            &template,
            &resolved,
        )
        .err()
        .unwrap_or_default()
    }

    fn places(problems: &[Problem]) -> Vec<(Option<&str>, Option<usize>)> {
        problems
            .iter()
            .map(|problem| (problem.key.as_deref(), problem.line))
            .collect()
    }

    #[test]
    fn task_cpu_and_memory_are_what_ecs_takes() {
        for (cpu, memory) in [
            ("\"256\"", "\"512\""),
            ("1024", "2048"),
            ("\"1 vCPU\"", "\"1 GB\""),
            ("\"0.5 vcpu\"", "\"0.5GB\""),
            ("\".25 vCPU\"", "\"2gb\""),
            ("\"{{stack.TaskCpu}}\"", "\"{{stack.TaskGb}} GB\""),
            ("null", "\"{{account_id}}\""),
        ] {
            let text = format!(
                r#"{{"family": "f", "cpu": {cpu}, "memory": {memory}, "containerDefinitions": [{{"name": "web", "image": "i"}}]}}"#
            );
            let problems = task_problems(&text);
            assert!(problems.is_empty(), "{cpu}, {memory}: {problems:?}");
        }
        let text = "{\"family\": \"f\",\n\"cpu\": \"{{app}}\",\n\"memory\": \"1.5 GiB\",\n\"containerDefinitions\": [{\"name\": \"web\", \"image\": \"i\"}]}";
        let problems = task_problems(text);
        assert_eq!(
            places(&problems),
            vec![(Some("/cpu"), Some(2)), (Some("/memory"), Some(3))]
        );
        assert!(problems[0].message.ends_with(
            "\"shop\" is not a number of CPU units (\"256\") or of vCPU (\"1 vCPU\") (from \"{{app}}\")"
        ), "{}", problems[0].message);
        let fix = problems[1].fix.as_deref().expect("fix");
        assert!(
            fix.starts_with("write a number of MiB like \"512\" or \"1 GB\" (ECS RegisterTaskDefinition: https://"),
            "{fix}"
        );
        for bad in ["0.5", "true", "\"-1\"", "\"1 vCPUs\"", "\"GB\"", "\" 512\""] {
            let text = format!(
                r#"{{"family": "f", "memory": {bad}, "containerDefinitions": [{{"name": "web", "image": "i"}}]}}"#
            );
            assert_eq!(
                places(&task_problems(&text)),
                vec![(Some("/memory"), Some(1))],
                "{bad}"
            );
        }
    }

    #[test]
    fn a_bad_value_found_twice_is_placed_by_where_serde_stopped() {
        let text = "{\"family\": \"f\",\n\"cpu\": \"{{app}}\",\n\"containerDefinitions\": [\n{\"name\": \"web\", \"image\": \"shop\",\n\"memoryReservation\": \"{{app}}\"}]}";
        let problems = task_problems(text);
        assert_eq!(
            places(&problems),
            vec![
                (Some("/cpu"), Some(2)),
                (Some("/containerDefinitions/0/memoryReservation"), Some(5))
            ]
        );
        assert!(problems[1]
            .message
            .ends_with("\"shop\" is not a whole number (from \"{{app}}\")"));
    }

    #[test]
    fn every_unknown_field_is_reported_at_once() {
        let text = "{\"family\": \"f\", \"containerDefinitions\": [\n{\"name\": \"web\", \"image\": \"i\"},\n{\"name\": \"worker\", \"image\": \"i\",\n\"memoryReservaton\": 64,\n\"essentail\": true,\n\"memory\": \"{{app}}\"}],\n\"volume\": []}";
        let problems = task_problems(text);
        assert_eq!(
            places(&problems),
            vec![
                (Some("/containerDefinitions/1/memoryReservaton"), Some(4)),
                (Some("/containerDefinitions/1/essentail"), Some(5)),
                (Some("/containerDefinitions/1/memory"), Some(6)),
                (Some("/volume"), Some(7)),
            ]
        );
        assert!(problems[3]
            .fix
            .as_deref()
            .is_some_and(|fix| fix.starts_with("did you mean \"volumes\"?")));
    }

    #[test]
    fn where_serde_stopped_names_the_value_refused() {
        let value = json!({"a": {"x": [1, "two"], "y": {"z": 1}, "w": 2}, "b": "3"});
        let spans = Spans::of(&value);
        let at = |text: &str| spans.text.find(text).expect("in the text");
        assert_eq!(
            spans.text,
            r#"{"a":{"x":[1,"two"],"y":{"z":1},"w":2},"b":"3"}"#
        );
        // After a scalar; at the start of a list of the wrong type.
        assert_eq!(
            spans.pointer_at(at(r#"],"y""#), "x").as_deref(),
            Some("/a/x/1")
        );
        assert_eq!(spans.pointer_at(at("[1,"), "x").as_deref(), Some("/a/x"));
        // After an unknown key.
        assert_eq!(
            spans
                .pointer_at(at(r#":{"z""#), "unknown field `y`")
                .as_deref(),
            Some("/a/y")
        );
        // After an object: the object, when the message shows it and a member
        // follows it; else its last member, which ended it.
        let after_y = at(r#"},"w""#) + 1;
        assert_eq!(
            spans
                .pointer_at(after_y, r#"expected a string, found {"z":1}"#)
                .as_deref(),
            Some("/a/y")
        );
        assert_eq!(
            spans.pointer_at(after_y, "1 is not right").as_deref(),
            Some("/a/y/z")
        );
        let after_a = at(r#"},"b""#) + 1;
        assert_eq!(
            spans.pointer_at(after_a, "2 is not right").as_deref(),
            Some("/a/w")
        );
        assert_eq!(
            spans.pointer_at(after_a, "missing field `v`").as_deref(),
            Some("/a")
        );
    }

    #[test]
    fn a_missing_field_is_placed_in_its_object() {
        let text = "{\"family\": \"f\", \"containerDefinitions\": [{\"name\": \"web\", \"image\": \"i\",\n\"healthCheck\": {\"interval\": 5}}]}";
        let problems = task_problems(text);
        assert_eq!(
            places(&problems),
            vec![(Some("/containerDefinitions/0/healthCheck"), Some(2))]
        );
        assert!(problems[0].message.ends_with("missing field `command`"));
    }

    #[test]
    fn a_file_of_the_other_kind_is_named_as_such() {
        let text = r#"{"family": "f", "containerDefinitions": []}"#;
        let template: Value = serde_json::from_str(text).expect("JSON");
        let problem = read_model::<crate::release::ecs_model::ServiceDefinition>(
            &source(TemplateKind::ServiceDefinition, text),
            &template,
            &template,
        )
        .expect_err("refused");
        assert!(
            problem.message.contains("looks like a task definition"),
            "{}",
            problem.message
        );
        assert!(problem
            .fix
            .expect("fix")
            .starts_with("point service_definition of [services.web] at a service definition"));
    }

    #[test]
    fn fields_stackup_decides_are_filled_in_or_refused() {
        let lookup = |name: &str| match name {
            "family" => Some(json!("demo-staging-v1-web")),
            "service.name" => Some(json!("web")),
            "stack.ClusterName" => Some(json!("demo-staging-v1")),
            "task_definition" => Some(json!("pending")),
            _ => None,
        };
        let text = "{\n\"cluster\": \"no-such-cluster\",\n\"serviceName\": \"other-name\"}";
        let mut service: Value = serde_json::from_str(text).expect("JSON");
        let problems = settle_decided_fields(
            &source(TemplateKind::ServiceDefinition, text),
            &mut service,
            &lookup,
        );
        let keys: Vec<_> = problems
            .iter()
            .map(|problem| (problem.key.as_deref(), problem.line))
            .collect();
        assert_eq!(
            keys,
            vec![(Some("/cluster"), Some(2)), (Some("/serviceName"), Some(3))]
        );
        assert!(problems[1]
            .message
            .contains("not web: a deploy would create a second ECS service"));
        assert_eq!(
            problems[0].fix.as_deref(),
            Some("write \"cluster\": \"{{stack.ClusterName}}\", or leave it out: stackup fills it in")
        );
        assert_eq!(service["taskDefinition"], "pending", "filled in");

        let mut task = json!({"containerDefinitions": []});
        let problems = settle_decided_fields(
            &source(TemplateKind::TaskDefinition, "{}"),
            &mut task,
            &lookup,
        );
        assert!(problems.is_empty());
        assert_eq!(task["family"], "demo-staging-v1-web");
    }

    #[test]
    fn secret_names_are_told_by_their_words() {
        for name in [
            "RELEASE_COOKIE",
            "DATABASE_PASSWORD",
            "PASSWORD",
            "SMTP_PASSWD",
            "DB_PASS",
            "CLIENT_SECRET",
            "GITHUB_TOKEN",
            "GOOGLE_CREDENTIALS",
            "JWT_PRIVATE_KEY",
            "STRIPE_API_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "DJANGO_SECRET_KEY",
            "SECRET_KEY_BASE",
            "secret_key_base",
            "DATABASE_URL",
            "REPLICA_DATABASE_URL",
        ] {
            assert!(is_secret_name(name), "{name} holds a secret");
        }
        for name in [
            "PASSWORD_MIN_LENGTH",
            "COOKIE_DOMAIN",
            "SESSION_COOKIE_NAME",
            "TOKENIZERS_PARALLELISM",
            "TOKEN_TTL",
            "SECRET_NAME",
            "PASSWORD_RESET_URL",
            "COMPASS",
            "BYPASS_CACHE",
            "DATABASE_POOL_SIZE",
            "PHX_SERVER",
            "PUBLIC_KEY",
            "",
        ] {
            assert!(!is_secret_name(name), "{name} is no secret");
        }
    }

    #[test]
    fn settings_about_secrets_may_be_plain_values() {
        let problems = check_task(
            json!({"containerDefinitions": [{"name": "web", "image": "{{image.web}}",
            "environment": [{"name": "PASSWORD_MIN_LENGTH", "value": "12"},
                            {"name": "SESSION_COOKIE_NAME", "value": "_demo_key"},
                            {"name": "STRIPE_API_KEY", "value": "sk_live_x"}]}]}),
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("STRIPE_API_KEY looks like a secret"));
    }

    #[test]
    fn plain_secrets_and_unknown_names_are_refused() {
        let problems = check_task(
            json!({"containerDefinitions": [{"name": "web", "image": "{{image.api}}",
            "environment": [{"name": "RELEASE_COOKIE", "value": "abc"}],
            "command": ["{{stack.Nope}}", "{{cookie.value}}"]}]}),
        );
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("RELEASE_COOKIE looks like a secret"));
    }
}
