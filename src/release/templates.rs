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
}

/// Last words of environment variable names that hold a secret, which must
/// come from `secrets[]`, never `environment[]` (DESIGN.md section 7).
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
            problems.push(problem(
                format!("unknown placeholder {{{{{}}}}}", placeholder.name),
                &placeholder.pointer,
                line,
                "use image.<container>, stack.<Output>, parameter.<path>, cookie.arn, service.*, app, environment, version, stack_id, region, account_id, family, task_definition or release.id (see the README)",
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

/// The text between the first pair of double quotes of a message.
fn first_quoted(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once('"')?;
    rest.split_once('"').map(|(quoted, _)| quoted)
}

/// Read a resolved template into the ECS model. Offline, placeholders known
/// only at deploy time are left in as stand-ins (`"{{stack.X}}"`); where the
/// model wants a number or a flag, a stand-in becomes 0 or true, so that only
/// what is wrong whatever the deploy fills in is refused.
pub fn read_model<T: serde::de::DeserializeOwned>(
    source: &Source<'_>,
    template: &Value,
    resolved: &Value,
) -> Result<T, Problem> {
    let read = |value: &Value| serde_json::from_value::<T>(value.clone());
    let mut value = resolved.clone();
    loop {
        let error = match read(&value) {
            Ok(model) => return Ok(model),
            Err(error) => error.to_string(),
        };
        let replacement = if error.contains("whole number") || error.contains("expected i") {
            Some(Value::from(0))
        } else if error.contains("true or false") || error.contains("expected a boolean") {
            Some(Value::Bool(true))
        } else {
            None
        };
        let (Some(quoted), Some(replacement)) = (
            first_quoted(&error).filter(|quoted| is_stand_in(quoted)),
            replacement,
        ) else {
            return Err(model_problem(source, template, &value, &error));
        };
        // The same stand-in may be in several fields (a string field before
        // the number field that failed): the one to replace is the one whose
        // replacement the model does not refuse in turn.
        let refused = |error: &str| {
            ["integer `0`", "found 0", "boolean `true`", "found true"]
                .iter()
                .any(|text| error.contains(text))
        };
        let mut replaced = None;
        for pointer in pointers_of_string(&value, quoted) {
            let mut trial = value.clone();
            if let Some(slot) = trial.pointer_mut(&pointer) {
                *slot = replacement.clone();
            }
            match read(&trial) {
                Ok(model) => return Ok(model),
                Err(next) if !refused(&next.to_string()) => {
                    replaced = Some(trial);
                    break;
                }
                Err(_) => {}
            }
        }
        match replaced {
            Some(trial) => value = trial,
            None => return Err(model_problem(source, template, &value, &error)),
        }
    }
}

/// What serde said about a template, as a problem with its place and fix.
fn model_problem(source: &Source<'_>, template: &Value, value: &Value, error: &str) -> Problem {
    let kind = source.kind;
    let api = kind.api();
    let reference = kind.reference();
    let heading = match kind {
        TemplateKind::TaskDefinition => "is not a task definition stackup can register",
        TemplateKind::ServiceDefinition => "is not a service definition stackup can use",
    };
    if let Some(field) = kind
        .other_kind_fields()
        .iter()
        .find(|field| value.get(**field).is_some())
    {
        let other = match kind {
            TemplateKind::TaskDefinition => TemplateKind::ServiceDefinition,
            TemplateKind::ServiceDefinition => TemplateKind::TaskDefinition,
        };
        return source.problem(
            format!(
                "{heading}: it has \"{field}\", so it looks like a {}, but [services.{}] {} names it as the {}",
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
        );
    }
    if let Some(rest) = error.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let valid: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let pointer = pointers_of_key(value, field).into_iter().next();
        let fix = match crate::suggest::closest(field, valid.iter().copied()) {
            Some(near) => {
                format!("did you mean \"{near}\"? Field names are those of ECS {api} ({reference})")
            }
            None => format!(
                "use a field of ECS {api} ({reference}); fields here: {}",
                valid.join(", ")
            ),
        };
        return source.problem(
            format!("{heading}: unknown field `{field}`"),
            pointer.as_deref(),
            fix,
        );
    }
    if let Some(rest) = error.strip_prefix("missing field `") {
        // serde does not say in which object; the checks above name the
        // usual ones (a container without a name or image).
        let field = rest.split('`').next().unwrap_or(rest);
        return source.problem(
            format!("{heading}: missing field `{field}`"),
            None,
            format!("add \"{field}\": ECS {api} needs it ({reference})"),
        );
    }
    // A bad value: the field name is right, the value is not.
    let pointer = first_quoted(error)
        .map(|quoted| pointers_of_string(value, quoted))
        .and_then(|found| (found.len() == 1).then(|| found[0].clone()));
    let from = pointer
        .as_deref()
        .and_then(|pointer| template.pointer(pointer))
        .and_then(Value::as_str)
        .filter(|text| text.contains("{{"))
        .map(|text| format!(" (from \"{text}\")"))
        .unwrap_or_default();
    source.problem(
        format!("{heading}: {error}{from}"),
        pointer.as_deref(),
        format!(
            "give this field a value of the type ECS {api} takes ({reference}); a placeholder here must resolve to one"
        ),
    )
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

/// JSON pointers of the object members named `key`, in document order.
fn pointers_of_key(value: &Value, key: &str) -> Vec<String> {
    let mut found = Vec::new();
    visit_all(value, &mut String::new(), &mut |pointer, item| {
        if item.as_object().is_some_and(|map| map.contains_key(key)) {
            found.push(format!("{pointer}/{}", escape_pointer(key)));
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
            },
        )
        .into_iter()
        .map(|problem| problem.message)
        .collect()
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
