//! `[services.<name>]`: templates, counts, naming, cookies and the console.

use super::*;

pub(super) fn read_services(
    root: &TableReader,
    config_dir: &Path,
    compose: &compose::Compose,
) -> Option<BTreeMap<String, ServiceConfig>> {
    let Some(table) = root.table("services") else {
        return if root.has("services") {
            None
        } else {
            Some(BTreeMap::new())
        };
    };
    let mut services = BTreeMap::new();
    let mut ok = true;
    for (name, service) in table.named_tables() {
        if !is_resource_name(&name.value) || name.value.len() > 32 {
            table.diagnostics().report(
                Some(&name.span),
                &table.key_path(&name.value),
                format!("\"{}\" is not a valid service name: lowercase letters, digits and single hyphens, starting with a letter, at most 32 characters", name.value),
                Some("rename the section, for example [services.web]".to_string()),
            );
            ok = false;
            continue;
        }
        match read_service(&service, &name.value, config_dir, compose) {
            Some(config) => {
                services.insert(name.value, config);
            }
            None => ok = false,
        }
        service.finish();
    }
    ok.then_some(services)
}

pub(super) fn read_service(
    table: &TableReader,
    name: &str,
    config_dir: &Path,
    compose: &compose::Compose,
) -> Option<ServiceConfig> {
    let default_task = format!("task-defs/{name}.json");
    let default_service = format!("task-defs/{name}-service.json");
    let task_definition = read_existing_path(
        table,
        "task_definition",
        Some(&default_task),
        config_dir,
        false,
    );
    let service_definition = read_existing_path(
        table,
        "service_definition",
        Some(&default_service),
        config_dir,
        false,
    );
    let desired_count = match table.integer("desired_count", 0..1001, "2") {
        Some(found) => Some(found.value as u32),
        None if table.has("desired_count") => None,
        None => Some(2),
    };
    let node_basename = if table.has("node_basename") {
        read_name(table, "node_basename", "\"web\"", 32, false)
    } else {
        Some(name.to_string())
    };
    let cookie = read_choice(
        table,
        "cookie",
        &[
            ("stack", CookieMode::Stack),
            ("release", CookieMode::Release),
        ],
        CookieMode::Stack,
    );
    let node_name = read_choice(
        table,
        "node_name",
        &[
            ("ip", NodeNameMode::Ip),
            ("release", NodeNameMode::Release),
            ("task", NodeNameMode::Task),
        ],
        NodeNameMode::Ip,
    );
    let console_command = match table.string(
        "console_command",
        "\"docker exec {tty} {container} bin/demo remote\"",
    ) {
        None if table.has("console_command") => None,
        None => Some(DEFAULT_CONSOLE_COMMAND.to_string()),
        Some(found) => check_console_command(table, "console_command", &found),
    };
    let eval_command = match table.string(
        "eval_command",
        "\"docker exec {container} bin/demo rpc {expr}\"",
    ) {
        None if table.has("eval_command") => None,
        None => Some(DEFAULT_EVAL_COMMAND.to_string()),
        Some(found) => check_console_command(table, "eval_command", &found),
    };
    let allow_host_access = host_access::read_allowances(table);
    let builds = build::read_builds(table, config_dir, compose);
    Some(ServiceConfig {
        name: name.to_string(),
        task_definition: task_definition?,
        service_definition: service_definition?,
        desired_count: desired_count?,
        node_basename: node_basename?,
        node_name: node_name?,
        cookie: cookie?,
        console_command: console_command?,
        eval_command: eval_command?,
        allow_host_access,
        builds: builds?,
    })
}

/// The placeholders of a console command that are not [`CONSOLE_PLACEHOLDERS`]:
/// each `{name}` (a name of letters, digits and underscores) not written as a
/// shell's `${name}`. Other braces are the command's own (`awk '{print $1}'`).
pub fn unknown_console_placeholders(command: &str, known: &[&str]) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut rest = command;
    let mut before = None;
    while let Some(start) = rest.find('{') {
        let shell_variable = if start == 0 {
            before == Some('$')
        } else {
            rest[..start].ends_with('$')
        };
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else {
            break;
        };
        let name = &after[..end];
        let is_name = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if is_name && !shell_variable && !known.contains(&name) {
            unknown.push(format!("{{{name}}}"));
        }
        before = Some('}');
        rest = &after[end + 1..];
    }
    unknown
}

/// How to write a console command's placeholders.
pub fn console_placeholders_fix(known: &[&str]) -> String {
    format!(
        "use only {}",
        known
            .iter()
            .map(|placeholder| format!("{{{placeholder}}}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub(super) fn check_console_command(
    table: &TableReader,
    key: &'static str,
    found: &Found<String>,
) -> Option<String> {
    if found.value.trim().is_empty() {
        table.diagnostics().report(
            Some(&found.span),
            &table.key_path(key),
            "is empty",
            Some(
                "write it like console_command = \"docker exec -it {container} bin/demo remote\""
                    .to_string(),
            ),
        );
        return None;
    }
    let known = if key == "eval_command" {
        EVAL_PLACEHOLDERS
    } else {
        CONSOLE_PLACEHOLDERS
    };
    if key == "eval_command" && !found.value.contains("{expr}") {
        table.diagnostics().report(
            Some(&found.span),
            &table.key_path(key),
            "has no {expr}: the expression of `console --eval` would be dropped",
            Some("put {expr} where the expression goes, like eval_command = \"docker exec {container} bin/demo rpc {expr}\"".to_string()),
        );
        return None;
    }
    let unknown = unknown_console_placeholders(&found.value, known);
    if let Some(first) = unknown.first() {
        table.diagnostics().report(
            Some(&found.span),
            &table.key_path(key),
            format!("unknown placeholder {first}"),
            Some(console_placeholders_fix(known)),
        );
        return None;
    }
    Some(found.value.clone())
}
