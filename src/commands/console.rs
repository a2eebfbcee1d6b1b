//! `console <STACK> [--service] [--task ID] [--command CMD]`: a remote console
//! on a running node, over two SSH hops: to the bastion, then through it to
//! the task's EC2 host, where the console command runs (by default
//! `docker exec -it <container> bin/<app> remote`).

use std::io::{IsTerminal, Write};

use aws_sdk_ecs::types::{DesiredStatus, Task};
use russh::ChannelMsg;
use tokio::io::AsyncReadExt;

use super::Context;
use crate::aws::{ecs, Aws};
use crate::cli::ConsoleArgs;
use crate::config::{ServiceConfig, StackConfig};
use crate::db::route::Route;
use crate::db::ssh::SshSession;
use crate::error::{InputError, Problem, RemoteExit};
use crate::ops::node_shell;
use crate::release::node_name::{task_id, task_node_name};
use crate::ui::terminal::{self, RawMode};
use crate::validation;

pub async fn run(context: &Context, args: &ConsoleArgs) -> anyhow::Result<()> {
    let printer = &context.printer;
    let stack = validation::load_checked(&context.global.config_dir, &args.stack)?;
    let service = choose_service(&stack, args.service.as_deref())?;
    if args
        .eval
        .as_deref()
        .is_some_and(|expression| expression.trim().is_empty())
    {
        return Err(InputError::one(
            Problem::new("--eval is empty")
                .fix("give an Elixir expression, like --eval 'Node.list()'"),
        )
        .into());
    }
    // --command follows console_command's rule: an unknown placeholder would
    // run as typed on the host.
    if let Some(command) = &args.command {
        let unknown = crate::config::unknown_console_placeholders(
            command,
            crate::config::CONSOLE_PLACEHOLDERS,
        );
        if !unknown.is_empty() {
            return Err(InputError::one(
                Problem::new(format!(
                    "--command: unknown placeholder {}",
                    unknown.join(", ")
                ))
                .fix(format!(
                    "{} (a shell variable is written ${{NAME}})",
                    crate::config::console_placeholders_fix(crate::config::CONSOLE_PLACEHOLDERS)
                )),
            )
            .into());
        }
    }
    let aws = Aws::load(&context.aws, Some(&stack)).await?;
    let (outputs, _) = crate::ops::stack_outputs::stack_outputs(&stack, &aws).await?;
    let cluster = outputs
        .get("ClusterName")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the platform stack has no ClusterName output"))?;
    let ecs_client = aws.ecs();
    let tasks =
        ecs::service_tasks(&ecs_client, &cluster, &service.name, DesiredStatus::Running).await?;
    if tasks.is_empty() {
        return Err(crate::error::Failure::new(format!(
            "service {} has no running task",
            service.name
        ))
        .hint(format!(
            "deploy it with `stackup deploy-release {}`",
            stack.name
        ))
        .into());
    }
    let task = choose_task(&tasks, args.task.as_deref(), &service, args.eval.is_some()).await?;
    let task_arn = task.task_arn().unwrap_or_default().to_string();
    // Named as the revision the task runs says (not as the stack file says now).
    let naming = crate::ops::node_names::namings(&ecs_client, &service, task.task_definition_arn())
        .await
        .into_values()
        .next()
        .unwrap_or_else(|| crate::ops::node_names::Naming::of_service(&service));
    // With --eval: no terminal, the expression's value printed; otherwise a
    // terminal when this side has one.
    let interactive = args.eval.is_none() && terminal::is_interactive();
    let template = match (&args.command, &args.eval) {
        (Some(command), _) => command.clone(),
        (None, Some(_)) => service.eval_command.clone(),
        (None, None) => service.console_command.clone(),
    };
    let expression = args
        .eval
        .as_deref()
        .map(node_shell::eval_expression)
        .transpose()?
        .unwrap_or_default();
    let route = Route::resolve(&stack, &outputs)?;
    let target =
        node_shell::target(&aws, &stack, &cluster, &route.ssh, &service, &naming, &task).await?;
    let command = target.command(&template, &stack.app, interactive, &expression);
    let (node, inner) = (&target.node, &target.host);
    printer.info(format!(
        "{node} (task {}) on {}:{} via {}",
        task_id(&task_arn),
        inner.host,
        inner.port,
        route.ssh
    ));
    let bastion = SshSession::connect(&route.ssh).await?;
    let host_session = bastion.connect_through(inner).await?;
    let status = run_remote(&host_session, &command, interactive).await;
    host_session.close().await;
    bastion.close().await;
    match status? {
        0 => Ok(()),
        code => Err(RemoteExit(code.min(255) as u8).into()),
    }
}

fn choose_service(stack: &StackConfig, name: Option<&str>) -> Result<ServiceConfig, InputError> {
    match name {
        Some(name) => stack.service_named(name).cloned().map_err(InputError::one),
        None if stack.services.len() <= 1 => {
            stack.services.values().next().cloned().ok_or_else(|| {
                InputError::one(
                    Problem::new("has no [services.<name>] section: no node to attach to")
                        .in_file(&stack.file),
                )
            })
        }
        None => Err(InputError::one(
            Problem::new("the stack has several services")
                .in_file(&stack.file)
                .fix(format!(
                    "choose one with --service: {}",
                    stack.service_names()
                )),
        )),
    }
}

/// `--task` (a task id or ARN), the only task (the first with `any`), or a
/// choice on a terminal.
async fn choose_task(
    tasks: &[Task],
    wanted: Option<&str>,
    service: &ServiceConfig,
    any: bool,
) -> anyhow::Result<Task> {
    let describe = |task: &Task| {
        format!(
            "{}  {}",
            task_id(task.task_arn().unwrap_or_default()),
            task_node_name(service.node_name, &service.node_basename, task)
                .unwrap_or_else(|| "(no address yet)".into())
        )
    };
    if let Some(wanted) = wanted {
        return tasks
            .iter()
            .find(|task| {
                task.task_arn()
                    .is_some_and(|arn| arn == wanted || task_id(arn) == wanted)
            })
            .cloned()
            .ok_or_else(|| {
                InputError::one(
                    Problem::new(format!(
                        "--task {wanted}: no such running task of {}",
                        service.name
                    ))
                    .fix(format!(
                        "running: {}",
                        tasks.iter().map(describe).collect::<Vec<_>>().join("; ")
                    )),
                )
                .into()
            });
    }
    // One task, or --eval (for scripts: any node of the service answers).
    if tasks.len() == 1 || any {
        return Ok(tasks[0].clone());
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(InputError::one(
            Problem::new(format!(
                "{} has {} running tasks and there is no terminal to choose",
                service.name,
                tasks.len()
            ))
            .fix(format!(
                "pass --task with one of: {}",
                tasks.iter().map(describe).collect::<Vec<_>>().join("; ")
            )),
        )
        .into());
    }
    let listing: Vec<String> = tasks.iter().map(describe).collect();
    let answer = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut stderr = std::io::stderr();
        for (index, line) in listing.iter().enumerate() {
            writeln!(stderr, "  {}) {line}", index + 1)?;
        }
        write!(stderr, "task [1]: ")?;
        stderr.flush()?;
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line)
    })
    .await??;
    let choice = answer.trim();
    let index = if choice.is_empty() {
        1
    } else {
        choice.parse::<usize>().unwrap_or(0)
    };
    tasks.get(index.wrapping_sub(1)).cloned().ok_or_else(|| {
        InputError::one(Problem::new(format!(
            "{choice} is not one of the tasks listed"
        )))
        .into()
    })
}

/// Run the command; with a terminal, in a PTY of the terminal's size, raw
/// mode on (and restored whatever happens), resizes passed on. Without one,
/// no PTY, so it can be scripted: stdin is forwarded until its end.
async fn run_remote(session: &SshSession, command: &str, interactive: bool) -> anyhow::Result<u32> {
    let size = terminal::size();
    let interactive = interactive && size.is_some();
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".into());
    let pty = match (interactive, size) {
        (true, Some((columns, rows))) => Some((term.as_str(), columns, rows)),
        _ => None,
    };
    let channel = session.exec(command, pty).await?;
    let (mut reader, writer) = channel.split();
    let _raw = if interactive {
        RawMode::enable()?
    } else {
        None
    };

    let input = {
        let writer_data = writer.make_writer();
        tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            let mut writer_data = writer_data;
            let mut buffer = [0u8; 4096];
            loop {
                match stdin.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(read) => {
                        if tokio::io::AsyncWriteExt::write_all(&mut writer_data, &buffer[..read])
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut writer_data).await;
        })
    };
    let mut resizes =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    let mut status = None;
    loop {
        tokio::select! {
            message = reader.wait() => match message {
                Some(ChannelMsg::Data { data }) => {
                    stdout.write_all(&data)?;
                    stdout.flush()?;
                }
                Some(ChannelMsg::ExtendedData { data, .. }) => {
                    stderr.write_all(&data)?;
                    stderr.flush()?;
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => status = Some(exit_status),
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                    tracing::debug!(?signal_name, "the remote command was killed by a signal");
                    status = Some(255);
                }
                Some(ChannelMsg::Failure) => {
                    input.abort();
                    anyhow::bail!("the host refused to run the console command (or its terminal)");
                }
                Some(_) => {}
                None => break,
            },
            _ = resizes.recv(), if interactive => {
                if let Some((columns, rows)) = terminal::size() {
                    let _ = writer.window_change(columns, rows, 0, 0).await;
                }
            }
            _ = terminate.recv() => {
                input.abort();
                anyhow::bail!("terminated");
            }
        }
    }
    input.abort();
    status.ok_or_else(|| {
        anyhow::anyhow!("the connection to the host ended without the command's exit status")
    })
}
