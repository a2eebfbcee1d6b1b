//! The command line (README, "Command line"). Doc comments here are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::ui::OutputFormat;

/// The whole life of a containerised Elixir/Erlang service on AWS.
///
/// Each STACK names a file `stacks/<STACK>.toml` under --config-dir. stdout carries
/// results only; progress and diagnostics go to stderr.
///
/// Exit codes: 0 success, 1 failure (AWS, database, rollout), 2 bad usage or bad input,
/// 130 interrupted (Ctrl-C, SIGTERM or SIGHUP).
#[derive(Debug, Parser)]
#[command(
    name = "stackup",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags that every command takes.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Directory holding `stacks/`, `task-defs/` and `scripts/db/`.
    #[arg(long, global = true, value_name = "DIR", default_value = ".")]
    pub config_dir: PathBuf,

    /// AWS named profile (otherwise AWS_PROFILE, then the default chain).
    #[arg(long, global = true, value_name = "PROFILE")]
    pub profile: Option<String>,

    /// AWS region (otherwise the stack file's `region`, then AWS_REGION and the profile).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,

    /// Send every AWS call to this endpoint (otherwise AWS_ENDPOINT_URL, then the
    /// stack file's `[local] endpoint_url`).
    #[arg(long, global = true, value_name = "URL", value_parser = endpoint_url)]
    pub endpoint_url: Option<String>,

    /// How results are written on stdout.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// More diagnostics on stderr: -v for debug, -vv for trace (RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Answer yes to every confirmation (needed to change anything without a terminal).
    #[arg(long, global = true)]
    pub yes: bool,

    /// No colours (also when NO_COLOR is set or stderr is not a terminal).
    #[arg(long, global = true)]
    pub no_color: bool,

    /// No spinners: progress as plain lines.
    #[arg(long, global = true)]
    pub no_progress: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a stack file and every template it names, offline (no AWS call).
    ///
    /// Reports every problem found, each with its file, key, line and fix.
    Validate(StackArgs),

    /// Create the stack, or update it when it exists: network, then platform.
    ///
    /// Shows the plan (zones, subnets, parameters), then for each CloudFormation
    /// stack a change set (add, modify, replace, remove) to confirm, and follows
    /// its events until it settles. "No changes" is success.
    #[command(visible_alias = "update-stack")]
    CreateStack(CreateStackArgs),

    /// Delete the stack: platform, then network. Refuses while another stack
    /// imports its exports, and while the database has deletion protection.
    DeleteStack(StackArgs),

    /// Provision the database through an SSH tunnel via the bastion: the
    /// database (encoding, collation), the application role, migrations, seeds.
    ///
    /// Shows what it will do and asks first; a second run changes nothing.
    UpdateResources(UpdateResourcesArgs),

    /// Forward a local port to the database through the bastion until Ctrl-C.
    ///
    /// Prints the psql command line (never a password) on stdout.
    Tunnel(TunnelArgs),

    /// Deploy a release: register a task definition revision when something
    /// changed, create or update each service, and wait for the rollout.
    ///
    /// Shows a diff against the running revision and service (the settings the
    /// service definition template gives) and asks first. Success means
    /// the new deployment is PRIMARY, its rollout COMPLETED and every task runs;
    /// a failed rollout exits 1 with the stopped tasks' reasons and last log
    /// lines, and rolls back unless --no-rollback. Each release is recorded
    /// under /stackup/<stack>/releases/<service> (started, then its result).
    /// Run again, the same release follows a rollout left unfinished (Ctrl-C,
    /// --no-wait, a killed run) to its end, and deploys again a revision whose
    /// rollout failed and was left in place.
    DeployRelease(DeployReleaseArgs),

    /// Roll services back to an earlier release from their history.
    ///
    /// The services go back at once and are waited for as deploy-release waits;
    /// one with nothing to go back to is passed over unless named with --service.
    Rollback(RollbackArgs),

    /// Show the stack as AWS sees it: CloudFormation stacks, services,
    /// tasks (with node names), hosts, CPU and memory, and recent events.
    ///
    /// Reads only. --output json gives the same data as one JSON document.
    /// With --cluster, each service's Erlang cluster verdict too (one line, as
    /// `stackup cluster` decides it).
    Status(StatusArgs),

    /// Application logs from CloudWatch: every stream merged in time order.
    ///
    /// One line per event (time, stream, message), or JSON lines with
    /// --output json. --follow keeps reading until Ctrl-C (exit 0): each poll
    /// re-reads the 10 s before the newest event printed, so no event is
    /// printed twice, but one that arrives more than 10 s late is missed.
    Logs(LogsArgs),

    /// Attach a console to a running node: SSH to the bastion, then through it
    /// to the task's host, where the console command runs in a PTY.
    ///
    /// The command is the service's console_command (default `docker exec -it
    /// {container} bin/{app} remote`); {container}, {node} and {app} are
    /// filled in. Without a terminal it runs without a PTY, for scripts.
    /// stackup exits with the command's status.
    Console(ConsoleArgs),

    /// Show each service's Erlang cluster: every running task, its node and
    /// the nodes it is connected to, and whether they are one cluster.
    ///
    /// Every node is asked at once, the way `console --eval` reaches it (the
    /// service's eval_command over SSH through the bastion), for
    /// `[node() | Node.list()]`. The verdict: whole (every node answered and
    /// all are connected), split (which groups), or nodes missing (which did
    /// not answer). Exits 1 unless every service's cluster is whole.
    /// --output json: {"nodes": [{"task", "node", "connected"}], "whole"}.
    Cluster(ClusterArgs),

    /// Build the stack's images with the local Docker engine and push them to
    /// ECR.
    ///
    /// Each `[services.<service>.build.<container>]` is built (docker build),
    /// tagged with the git commit, and pushed to the repository
    /// `<app>-<environment>/<container>` of the images stack, which is created
    /// or updated first. A tag that already holds the same image is not pushed
    /// again. Prints `CONTAINER=IMAGE@DIGEST` per image, for deploy-release
    /// --image. A failed build or push exits 1; run again, a push resumes.
    Build(BuildArgs),

    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The stack: the file stacks/<STACK>.toml under --config-dir.
    #[arg(value_name = "STACK")]
    pub stack: String,

    /// Build only this service's images (repeatable); default: every service.
    #[arg(long, value_name = "NAME")]
    pub service: Vec<String>,

    /// Build a work tree with uncommitted changes, tagged
    /// <commit>-dirty-<hash of the changes>.
    #[arg(long)]
    pub allow_dirty: bool,
}

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// The stack: the file stacks/<STACK>.toml under --config-dir.
    #[arg(value_name = "STACK")]
    pub stack: String,

    /// The service (needed when the stack has several).
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,

    /// The task, by id or ARN (otherwise the only one, or a choice on a terminal).
    #[arg(long, value_name = "ID")]
    pub task: Option<String>,

    /// The command to run instead of the service's console_command
    /// ({container}, {node}, {app} and {tty} are filled in). The default
    /// console_command is `docker exec {tty} -e RELEASE_NODE={node} -e
    /// RELEASE_DISTRIBUTION=name {container} bin/{app} remote`.
    #[arg(long, value_name = "CMD", conflicts_with = "eval")]
    pub command: Option<String>,

    /// Evaluate one Elixir expression on the node and print its value (with
    /// IO.inspect), without a terminal: for scripts. Exits non-zero when it
    /// raises. Runs the service's eval_command (default: `bin/<app> rpc` in the
    /// container, told the node's name).
    #[arg(long, value_name = "EXPR")]
    pub eval: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The stack: the file stacks/<STACK>.toml under --config-dir.
    #[arg(value_name = "STACK")]
    pub stack: String,

    /// Only this service's streams (repeatable); default: every stream of the stack.
    #[arg(long, value_name = "NAME")]
    pub service: Vec<String>,

    /// Start: a duration ago (15m, 2h, 3d) or an RFC 3339 time. Inclusive.
    #[arg(long, value_name = "DURATION|TIME", default_value = "15m")]
    pub since: String,

    /// End: a duration ago or an RFC 3339 time; default now. Exclusive.
    #[arg(long, value_name = "DURATION|TIME")]
    pub until: Option<String>,

    /// A CloudWatch Logs filter pattern, such as ERROR or "\"timed out\"".
    #[arg(long, value_name = "PATTERN")]
    pub filter: Option<String>,

    /// Keep reading new events until Ctrl-C; events arriving more than 10 s
    /// late are missed.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct DeployReleaseArgs {
    /// The stack: the file stacks/<STACK>.toml under --config-dir.
    #[arg(value_name = "STACK")]
    pub stack: String,

    /// The image of a container, repeatable. Containers not given keep the
    /// image they run now. Each is looked up before anything is registered
    /// (ECR's DescribeImages for an ECR image, the registry's manifest
    /// otherwise): a missing image or tag is refused (exit 2); a registry
    /// that cannot be asked (credentials, network) gives a warning.
    #[arg(long, value_name = "CONTAINER=IMAGE")]
    pub image: Vec<String>,

    /// Build and push the images of the deployed services first (as `stackup
    /// build` does), then deploy them pinned by digest, as if given with
    /// --image. A failed build or push exits 1 with nothing registered.
    #[arg(long)]
    pub build: bool,

    /// With --build: build a work tree with uncommitted changes, tagged
    /// <commit>-dirty-<hash of the changes>.
    #[arg(long, requires = "build")]
    pub allow_dirty: bool,

    /// Do not look up the --image images before deploying (for a registry
    /// this machine cannot reach but the cluster can).
    #[arg(long, env = "STACKUP_SKIP_IMAGE_CHECK")]
    pub skip_image_check: bool,

    /// Deploy only this service (repeatable); default: every service.
    #[arg(long, value_name = "NAME")]
    pub service: Vec<String>,

    /// Return once the services are updated, without waiting for the rollout.
    #[arg(long)]
    pub no_wait: bool,

    /// How long to wait for the rollout (default: [deploy] timeout, 15m).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub timeout: Option<humantime::Duration>,

    /// On a failed rollout, leave the service as it is instead of rolling back
    /// (a circuit breaker whose rollback the service definition turns on still
    /// rolls back: that is ECS's).
    #[arg(long)]
    pub no_rollback: bool,

    /// Deploy even though a template refers to an SSM parameter that does not
    /// exist (`{{parameter.PATH}}`): its tasks cannot start until it does.
    /// Without it, deploy-release refuses before any change (exit 2).
    #[arg(long)]
    pub allow_missing_parameters: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The stack: the file stacks/<STACK>.toml under --config-dir.
    #[arg(value_name = "STACK")]
    pub stack: String,

    /// Roll back only this service (repeatable); default: every service.
    #[arg(long, value_name = "NAME")]
    pub service: Vec<String>,

    /// The task definition revision to go back to: a number, family:number or
    /// an ARN, of the service's own family (with one service). Default: the
    /// newest release before the running one not recorded as failed.
    #[arg(long, value_name = "REVISION")]
    pub to: Option<String>,

    /// How long to wait for the rollout (default: [deploy] timeout).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub timeout: Option<humantime::Duration>,
}

#[derive(Debug, Args)]
pub struct UpdateResourcesArgs {
    /// The stack: the file stacks/<STACK>.toml under --config-dir.
    #[arg(value_name = "STACK")]
    pub stack: String,

    /// Instead: on a throwaway database, migrate, seed, roll back every
    /// migration with its .down.sql, migrate, seed, and drop it.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct TunnelArgs {
    /// The stack: the file stacks/<STACK>.toml under --config-dir.
    #[arg(value_name = "STACK")]
    pub stack: String,

    /// The local port to listen on (127.0.0.1); 0 picks a free one.
    #[arg(long, default_value_t = 5436, value_name = "PORT")]
    pub local_port: u16,
}

#[derive(Debug, Args)]
pub struct CreateStackArgs {
    /// The stack: the file stacks/<STACK>.toml under --config-dir.
    #[arg(value_name = "STACK")]
    pub stack: String,

    /// Show the plan and stop, having changed nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Move the ECS hosts and the bastion to the newest Amazon Linux images
    /// (the hosts roll, the bastion is replaced). Without it a stack keeps
    /// the images it runs.
    #[arg(long)]
    pub refresh_amis: bool,

    /// Let this run replace a resource that holds state (the database, the
    /// target group, the load balancer, an Elastic IP, the log group), by its
    /// logical id, such as Database. Without it, a change that would replace
    /// one is refused, and the stacks' policy denies the replacement.
    #[arg(long, value_name = "LOGICAL_ID")]
    pub allow_replacement: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// The stack: the file stacks/<STACK>.toml under --config-dir.
    #[arg(value_name = "STACK")]
    pub stack: String,

    /// Only this service's cluster (repeatable); default: every service.
    #[arg(long, value_name = "NAME")]
    pub service: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The stack: the file stacks/<STACK>.toml under --config-dir.
    #[arg(value_name = "STACK")]
    pub stack: String,

    /// Also ask every running node which nodes it is connected to and show
    /// each service's cluster verdict (an SSH round per node, so off by
    /// default).
    #[arg(long)]
    pub cluster: bool,
}

#[derive(Debug, Args)]
pub struct StackArgs {
    /// The stack: the file stacks/<STACK>.toml under --config-dir.
    #[arg(value_name = "STACK")]
    pub stack: String,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `--timeout`: a duration written as the stack file writes one (`15m`,
/// `90s`, `1h30m`); a bare number is refused with that form, not humantime's
/// `5sec`.
fn duration(text: &str) -> Result<humantime::Duration, String> {
    let parsed = text.parse::<humantime::Duration>();
    if let Ok(duration) = &parsed {
        if duration.is_zero() {
            return Err(format!(
                "{text} is no time to wait: give a duration, like 90s or 15m"
            ));
        }
    }
    parsed.map_err(|error| {
        if text.trim().chars().all(|c| c.is_ascii_digit()) && !text.trim().is_empty() {
            format!("a duration needs a unit: write {text}m for minutes or {text}s for seconds (as in the stack file's timeout = \"15m\")")
        } else {
            format!("{error}; write it like 15m, 90s or 1h30m")
        }
    })
}

/// `--endpoint-url`: an http:// or https:// URL with a host, or a usage error (exit 2).
fn endpoint_url(url: &str) -> Result<String, String> {
    match crate::aws::endpoint_url_problem(url) {
        Some(problem) => Err(problem),
        None => Ok(url.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = Cli::try_parse_from([
            "stackup",
            "validate",
            "local",
            "--output",
            "json",
            "-vv",
            "--config-dir",
            "/tmp",
        ])
        .expect("parses");
        assert_eq!(cli.global.output, OutputFormat::Json);
        assert_eq!(cli.global.verbose, 2);
        assert_eq!(cli.global.config_dir, PathBuf::from("/tmp"));
    }
}
