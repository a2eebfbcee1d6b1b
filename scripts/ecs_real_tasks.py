"""ECS tasks as real containers: scripts/moto_server.py, entry 25 (read it first).

The ECS model of entry 8 decides when a service's task starts and stops; this module makes
each such task of an account that asked for it (POST /moto-api/ecs-model/real-tasks) a real
container under the local cloud's Docker engine (state.json "docker"), as the ECS container
agent does on an EC2 container instance (developer guide "Amazon ECS container agent",
"Task networking for tasks on Amazon EC2 instances" (awsvpc), "Specifying sensitive data
using Systems Manager Parameter Store", "Task metadata endpoint version 4", "Using the
awslogs log driver", "Amazon ECS stopped tasks errors" / "CannotPullContainer task errors"):

- the image is pulled from the local registry with the login ECR's token gives (entry 17);
  any other registry cannot be reached from here, so such a task stops as ECS stops one whose
  pull fails: stopCode TaskFailedToStart, "CannotPullContainerError: ...";
- the container gets the task's awsvpc address (the ENI address DescribeTasks shows) on one
  bridge network per VPC whose subnet is the VPC's CIDR, so every subnet's addresses route;
- `environment`, then `secrets` (valueFrom an SSM parameter name or ARN, SecureStrings
  decrypted) become the container's environment, passed to `docker run -e NAME` through the
  client's own environment: no value on a command line, in a file or in a log;
- ECS_CONTAINER_METADATA_URI_V4 (and _URI, v3's name) point at a small HTTP server on the
  network's gateway address that answers `${URI}` and `${URI}/task` in v4's shapes;
- the container joins its network with an alias equal to the service's DNS name (Cloud Map:
  `<service>.<namespace>` when the service has a registry of moto's Service Discovery, else
  `<service>.<cluster>.local`, see service_dns_name), so Docker's embedded DNS answers that
  name with every running task's address as a MULTIVALUE A query does;
- stdout and stderr go to the awslogs stream `<prefix>/<container>/<task id>` of the task
  definition's group, in moto's CloudWatch Logs, line by line (a missing group fails the task
  to start, as the awslogs driver does);
- the model's stop stops the container (SIGTERM, then SIGKILL after stopTimeout, default 30 s)
  and removes it; a container that exits on its own is reported to the model, which stops the
  task (EssentialContainerExited, the exit code) and so replaces it.

Every container carries the label stackup.local-cloud.launcher=<PID of this server>;
containers and networks of a launcher that no longer runs are removed when real tasks are
first used, and scripts/local-cloud down removes them all.
"""
import hashlib
import ipaddress
import json
import os
import secrets as random_secrets
import subprocess
import tempfile
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LABEL = "stackup.local-cloud.launcher"
_LOCK = threading.RLock()
_ENABLED_ACCOUNTS = set()
_TASKS = {}  # task ARN -> RealTask
_NETWORKS = {}  # network name -> Network
_STATE = {"engine": None, "cleaned": False}
PULL_TIMEOUT = 300
DEFAULT_STOP_TIMEOUT = 30


class Engine:
    """The docker client against the local cloud's engine, with a login of its own."""

    def __init__(self, host, registry):
        self.host = host
        self.registry = registry  # (address, user, password) or None
        self.config_dir = tempfile.mkdtemp(prefix="stackup-ecs-tasks-")  # 0700
        self.logged_in = False
        self.binary = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"

    def command(self, *args):
        return [self.binary, "-H", self.host, "--config", self.config_dir, *args]

    def run(self, *args, env=None, stdin=None, timeout=60):
        return subprocess.run(self.command(*args), env=env if env is not None else {}, input=stdin,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def login(self):
        if self.logged_in or self.registry is None:
            return
        address, user, password = self.registry
        done = self.run("login", "--username", user, "--password-stdin", address, stdin=password)
        if done.returncode != 0:
            raise TaskFailure("CannotPullContainerError", f"login to {address} failed: {done.stderr.strip()}")
        self.logged_in = True


class TaskFailure(Exception):
    def __init__(self, kind, detail):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


class Network:
    """A bridge network for one VPC (subnet = the VPC's CIDR) and its metadata server."""

    def __init__(self, name, cidr):
        self.name = name
        self.cidr = cidr
        self.gateway = str(next(ipaddress.ip_network(cidr).hosts()))
        self.server = None
        self.users = 0
        self.iptables_chain = None


class RealTask:
    def __init__(self, task, task_definition, container, service_name, cluster_arn, alias, log_options,
                 environment, ip, vpc_cidr, network_name, security_groups, ec2_backend=None):
        self.task = task
        self.ec2_backend = ec2_backend
        self.task_definition = task_definition
        self.container = container
        self.service_name = service_name
        self.cluster_arn = cluster_arn
        self.alias = alias
        self.log_options = log_options
        self.environment = environment  # name -> value, secrets included: never logged
        self.ip = ip
        self.vpc_cidr = vpc_cidr
        self.network_name = network_name
        self.security_groups = security_groups
        self.token = random_secrets.token_hex(16)
        self.docker_name = (f"ecs-{task_definition.family}-{task_definition.revision}-"
                            f"{container['name']}-{random_secrets.token_hex(10)}")
        self.container_id = None
        self.image_id = None
        self.state = "starting"  # starting | running | failed | exited | stopping
        self.reason = None
        self.exit_code = None
        self.created_at = self.started_at = None


def _now():
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def set_enabled(account_id, enabled):
    with _LOCK:
        (_ENABLED_ACCOUNTS.add if enabled else _ENABLED_ACCOUNTS.discard)(str(account_id))


def enabled_accounts():
    with _LOCK:
        return sorted(_ENABLED_ACCOUNTS)


def enabled(account_id, state_reader):
    """Real tasks for this account, when it asked and the local cloud's engine is known."""
    with _LOCK:
        if str(account_id) not in _ENABLED_ACCOUNTS:
            return False
        return _engine(state_reader) is not None


def _engine(state_reader):
    if _STATE["engine"] is None:
        state = state_reader() or {}
        host = (state.get("docker") or {}).get("host")
        if not host:
            return None
        registry = state.get("registry") or {}
        credentials = None
        try:
            password = open(registry["password_file"]).read().strip()
            credentials = (registry["address"], registry["user"], password)
        except (OSError, KeyError, TypeError):
            pass
        _STATE["engine"] = Engine(host, credentials)
    engine = _STATE["engine"]
    if not _STATE["cleaned"]:
        _STATE["cleaned"] = True
        _remove_orphans(engine)
    return engine


def _remove_orphans(engine):
    """Containers and networks of a launcher that no longer runs (a moto restarted)."""
    for kind in ("container", "network"):
        listed = engine.run(kind, "ls", *(["-a"] if kind == "container" else []), "--filter", f"label={LABEL}",
                            "--format", f'{{{{.ID}}}} {{{{.Label "{LABEL}"}}}}')
        for line in listed.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2 and not os.path.exists(f"/proc/{parts[1]}"):
                engine.run(kind, "rm", *(["-f"] if kind == "container" else []), parts[0])
    listed = _iptables("-S", "DOCKER-USER")
    for chain in sorted({word for word in listed.stdout.split() if word.startswith(CHAIN_PREFIX)}):
        if not any(_chain_name(name) == chain for name in _NETWORKS):
            _drop_chain(chain)


def service_dns_name(service, cluster_name, sd_backend):
    """The name a service's tasks answer under: its Cloud Map service's `<name>.<namespace>`
    when the ECS service has a registry moto's Service Discovery knows, else
    `<service>.<cluster>.local` (a stand-in until the templates declare Cloud Map)."""
    for registry in getattr(service, "service_registries", None) or []:
        service_id = str(registry.get("registryArn", "")).split("/")[-1]
        try:
            sd_service = sd_backend.get_service(service_id)
            namespace = sd_backend.get_namespace(sd_service.namespace_id)
            return f"{sd_service.name}.{namespace.name}"
        except Exception:  # noqa: BLE001 - an unknown registry: the stand-in name
            continue
    return f"{service.name}.{cluster_name}.local"


def _parameter_name(value_from):
    if value_from.startswith("arn:"):
        return value_from.split(":parameter", 1)[1] if ":parameter" in value_from else None
    return value_from


def resolve_environment(container, ssm_backend):
    """environment, then secrets from SSM (decrypted), as the agent resolves them; a secret
    that cannot be read fails the task as ECS does (ResourceInitializationError)."""
    environment = {e["name"]: str(e.get("value", "")) for e in container.get("environment") or []}
    for secret in container.get("secrets") or []:
        name = _parameter_name(str(secret.get("valueFrom", "")))
        parameter = ssm_backend.get_parameters([name]).get(name) if name else None
        if parameter is None:
            raise TaskFailure("ResourceInitializationError",
                              "unable to pull secrets or registry auth: execution resource retrieval failed: "
                              "unable to retrieve secrets from ssm: service call has been retried 1 time(s): "
                              f"InvalidParameters: {secret.get('valueFrom')}")
        value = parameter.value
        if parameter.parameter_type == "SecureString" and hasattr(parameter, "decrypt"):
            value = parameter.decrypt(value)
        environment[secret["name"]] = value
    return environment


def prepare(task, task_definition, service_name, cluster_arn, alias, ssm_backend, logs_backend, vpc_cidr,
            account_id, vpc_id, security_groups, ec2_backend=None):
    """A RealTask for a task the model just made PENDING (under the model's lock): what can
    fail at once (secrets, log group) fails here; the pull and run follow in a thread."""
    container = next((c for c in task_definition.container_definitions if c.get("essential", True)),
                     task_definition.container_definitions[0])
    ip = next((d["value"] for a in task.attachments for d in a["details"] if d["name"] == "privateIPv4Address"),
              None)
    log = container.get("logConfiguration") or {}
    options = dict(log.get("options") or {}) if log.get("logDriver") == "awslogs" else {}
    real = RealTask(task, task_definition, container, service_name, cluster_arn, alias, options, {}, ip,
                    vpc_cidr, f"stackup-{account_id}-{vpc_id}", security_groups, ec2_backend)
    with _LOCK:
        _TASKS[task.task_arn] = real
    try:
        if ip is None or vpc_cidr is None:
            raise TaskFailure("ResourceInitializationError", "the task has no awsvpc network interface "
                              "(networkMode awsvpc and a service networkConfiguration are needed for a real task)")
        real.environment = resolve_environment(container, ssm_backend)
        if options:
            group = options.get("awslogs-group")
            if group not in logs_backend.groups:
                raise TaskFailure("CannotStartContainerError",
                                  "Error response from daemon: failed to initialize logging driver: failed to create "
                                  "Cloudwatch log stream: ResourceNotFoundException: The specified log group does "
                                  "not exist.")
            stream = f"{options.get('awslogs-stream-prefix')}/{container['name']}/{task.id}"
            options["awslogs-stream"] = stream
            if stream not in logs_backend.groups[group].streams:
                logs_backend.create_log_stream(group, stream)
    except TaskFailure as failure:
        real.state, real.reason = "failed", str(failure)
        return real
    threading.Thread(target=_start, args=(real, logs_backend), daemon=True,
                     name=f"ecs-task-{task.id}").start()
    return real


def _network(engine, real):
    """The VPC's network (made on first use) with its metadata server; counts its users."""
    with _LOCK:
        network = _NETWORKS.get(real.network_name)
        if network is None:
            network = Network(real.network_name, real.vpc_cidr)
            inspected = engine.run("network", "inspect", network.name)
            if inspected.returncode != 0:
                made = engine.run("network", "create", "--driver", "bridge", "--subnet", network.cidr,
                                  "--gateway", network.gateway, "--label", f"{LABEL}={os.getpid()}", network.name)
                if made.returncode != 0:
                    raise TaskFailure("ResourceInitializationError",
                                      f"failed to create the task's network for {network.cidr}: {made.stderr.strip()}")
            network.server = _metadata_server(network.gateway)
            _NETWORKS[network.name] = network
        network.users += 1
        return network


def _release_network(engine, name):
    with _LOCK:
        network = _NETWORKS.get(name)
        if network is None:
            return
        network.users -= 1
        if network.users > 0:
            return
        del _NETWORKS[name]
    if network.server is not None:
        network.server.shutdown()
        network.server.server_close()
    _drop_chain(_chain_name(name))
    engine.run("network", "rm", name)


def _pull(engine, image):
    registry = engine.registry[0] if engine.registry else None
    if registry is None or not image.startswith(registry + "/"):
        raise TaskFailure("CannotPullContainerError",
                          f"pull image manifest has been retried 1 time(s): failed to resolve ref {image}: "
                          "the local cloud reaches no registry but its own"
                          + (f" ({registry})" if registry else ""))
    engine.login()
    pulled = engine.run("pull", "--quiet", image, timeout=PULL_TIMEOUT)
    if pulled.returncode != 0:
        detail = pulled.stderr.strip().splitlines()[-1] if pulled.stderr.strip() else "failed"
        raise TaskFailure("CannotPullContainerError",
                          f"pull image manifest has been retried 1 time(s): failed to resolve ref {image}: {detail}")
    inspected = engine.run("image", "inspect", "--format", "{{.Id}}", image)
    return inspected.stdout.strip() or None


def _run_arguments(real, network):
    container = real.container
    uri = f"http://{network.gateway}:{network.server.server_address[1]}/v4/{real.token}"
    environment = dict(real.environment)
    environment.update(ECS_CONTAINER_METADATA_URI_V4=uri, ECS_CONTAINER_METADATA_URI=uri.replace("/v4/", "/v3/"))
    if real.log_options.get("awslogs-region"):
        environment.setdefault("AWS_REGION", real.log_options["awslogs-region"])
    arguments = ["run", "-d", "--name", real.docker_name, "--label", f"{LABEL}={os.getpid()}",
                 "--label", f"com.amazonaws.ecs.task-arn={real.task.task_arn}",
                 "--label", f"com.amazonaws.ecs.container-name={container['name']}",
                 "--label", f"com.amazonaws.ecs.task-definition-family={real.task_definition.family}",
                 "--label", f"com.amazonaws.ecs.task-definition-version={real.task_definition.revision}",
                 "--network", network.name, "--ip", real.ip, "--network-alias", real.alias,
                 "--hostname", f"ip-{real.ip.replace('.', '-')}"]
    for name in environment:
        arguments += ["-e", name]  # the value comes from the client's environment
    if container.get("memory"):
        arguments += ["--memory", f"{int(container['memory'])}m"]
    if container.get("memoryReservation"):
        arguments += ["--memory-reservation", f"{int(container['memoryReservation'])}m"]
    if container.get("workingDirectory"):
        arguments += ["--workdir", container["workingDirectory"]]
    if container.get("user"):
        arguments += ["--user", container["user"]]
    entry_point = list(container.get("entryPoint") or [])
    if entry_point:
        arguments += ["--entrypoint", entry_point[0]]
    arguments.append(container["image"])
    arguments += entry_point[1:] + list(container.get("command") or [])
    return arguments, environment


def _start(real, logs_backend):
    engine = _STATE["engine"]
    network = None
    try:
        real.image_id = _pull(engine, real.container["image"])
        network = _network(engine, real)
        arguments, environment = _run_arguments(real, network)
        real.created_at = _now()
        started = engine.run(*arguments, env=environment, timeout=120)
        if started.returncode != 0:
            raise TaskFailure("CannotStartContainerError", started.stderr.strip() or "docker run failed")
        real.container_id = started.stdout.strip()
        real.started_at = _now()
    except TaskFailure as failure:
        with _LOCK:
            real.state, real.reason = "failed", str(failure)
        if network is not None:
            _release_network(engine, network.name)
        return
    except Exception as error:  # noqa: BLE001 - any other failure stops the task with its reason
        with _LOCK:
            real.state, real.reason = "failed", f"CannotStartContainerError: {error}"
        if network is not None:
            _release_network(engine, network.name)
        return
    with _LOCK:
        stop_asked = real.state == "stopping"
        if not stop_asked:
            real.state = "running"
    if stop_asked:
        _stop(real, engine)
        return
    apply_security_groups(real.network_name)
    _follow(real, engine, logs_backend)


def _follow(real, engine, logs_backend):
    """stdout and stderr into the task's awslogs stream, then the exit code once it ends."""
    group, stream = real.log_options.get("awslogs-group"), real.log_options.get("awslogs-stream")
    with subprocess.Popen(engine.command("logs", "--follow", "--timestamps", real.container_id),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={}) as follower:
        for raw in follower.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            stamp, _, message = line.partition(" ")
            try:
                millis = int(datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00").timestamp() * 1000)
            except ValueError:
                millis, message = int(time.time() * 1000), line
            if group and stream:
                try:
                    logs_backend.put_log_events(group, stream, [{"timestamp": millis, "message": message}])
                except Exception:  # noqa: BLE001 - a group deleted under a running task: lines are lost
                    pass
    inspected = engine.run("inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", real.container_id)
    running, _, code = inspected.stdout.strip().partition(" ")
    with _LOCK:
        if real.state == "running" and running == "false":
            real.state = "exited"
            real.exit_code = int(code) if code.lstrip("-").isdigit() else None


def pending_outcome(task):
    """For a PENDING task: None (no real task), "starting", "running" or ("failed", reason)."""
    with _LOCK:
        real = _TASKS.get(task.task_arn)
        if real is None:
            return None
        if real.state == "failed":
            return ("failed", real.reason)
        return real.state if real.state in ("starting", "running") else "starting"


def exit_code(task):
    """The exit code of a RUNNING task's container that exited on its own, else None."""
    with _LOCK:
        real = _TASKS.get(task.task_arn)
        if real is None or real.state != "exited":
            return None
        return real.exit_code if real.exit_code is not None else -1


def container_id(task):
    with _LOCK:
        real = _TASKS.get(task.task_arn)
        return real.container_id if real else None


def image_id(task):
    with _LOCK:
        real = _TASKS.get(task.task_arn)
        return real.image_id if real else None


def stop(task):
    """The model stopped the task: stop and remove its container (in the background)."""
    with _LOCK:
        real = _TASKS.pop(task.task_arn, None)
        if real is None:
            return
        previous, real.state = real.state, "stopping"
    if previous in ("running", "exited"):
        threading.Thread(target=_stop, args=(real, _STATE["engine"]), daemon=True).start()


def _stop(real, engine):
    timeout = int(real.container.get("stopTimeout") or DEFAULT_STOP_TIMEOUT)
    engine.run("stop", "--time", str(timeout), real.container_id, timeout=timeout + 30)
    engine.run("rm", "-f", real.container_id)
    apply_security_groups(real.network_name)
    _release_network(engine, real.network_name)


def stop_all():
    """Every real task's container goes (moto's reset)."""
    with _LOCK:
        reals = list(_TASKS.values())
        _TASKS.clear()
        _ENABLED_ACCOUNTS.clear()
    for real in reals:
        with _LOCK:
            previous, real.state = real.state, "stopping"
        if previous in ("running", "exited"):
            real.container["stopTimeout"] = 2
            _stop(real, _STATE["engine"])


# --- security groups between tasks -------------------------------------------------------------
CHAIN_PREFIX = "STACKUP-SG-"
_IPTABLES_LOCK = threading.Lock()


def _iptables(*args):
    try:
        return subprocess.run(["iptables", "-w", "10", *args], capture_output=True, text=True, timeout=30,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return subprocess.CompletedProcess(args, 1, "", str(error))


def _chain_name(network_name):
    return CHAIN_PREFIX + hashlib.sha256(network_name.encode()).hexdigest()[:12]


def _drop_chain(chain):
    with _IPTABLES_LOCK:
        while _iptables("-D", "DOCKER-USER", "-j", chain).returncode == 0:
            pass
        _iptables("-F", chain)
        _iptables("-X", chain)


def security_group_rules(reals):
    """iptables rules for the traffic between the running tasks of one network, from their
    security groups' ingress rules (VPC user guide "Security group rules": a rule allows a
    protocol and port range from a CIDR or from the members of a security group; what no
    rule allows is dropped; responses to allowed traffic are allowed, security groups being
    stateful).  Only traffic between tasks passes the bridge's FORWARD chain; the host (the
    load balancer's and the metadata endpoint's stand-in) is not filtered."""
    rules = [["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"]]
    members = {}
    for real in reals:
        for group in real.security_groups:
            members.setdefault(group, []).append(real.ip)
    for real in reals:
        for group_id in real.security_groups:
            group = real.ec2_backend.get_security_group_from_id(group_id) if real.ec2_backend else None
            for rule in getattr(group, "ingress_rules", None) or []:
                sources = []
                if (rule.source_group or {}).get("GroupId"):
                    sources += [f"{ip}/32" for ip in members.get(rule.source_group["GroupId"], [])]
                if (rule.ip_range or {}).get("CidrIp"):
                    sources.append(rule.ip_range["CidrIp"])
                protocol = rule.ip_protocol or "-1"
                match = []
                if protocol in ("tcp", "udp"):
                    match = ["-p", protocol, "--dport", f"{rule.from_port}:{rule.to_port}"]
                elif protocol != "-1":
                    match = ["-p", protocol]
                for source in sources:
                    rules.append(["-s", source, "-d", f"{real.ip}/32", *match, "-j", "RETURN"])
    for real in reals:
        rules.append(["-d", f"{real.ip}/32", "-j", "DROP"])
    return rules


def apply_security_groups(network_name):
    with _LOCK:
        reals = [r for r in _TASKS.values() if r.network_name == network_name and r.state == "running"]
    chain = _chain_name(network_name)
    with _IPTABLES_LOCK:
        if _iptables("-N", chain).returncode != 0:
            _iptables("-F", chain)
        for rule in security_group_rules(reals):
            _iptables("-A", chain, *rule)
        if _iptables("-C", "DOCKER-USER", "-j", chain).returncode != 0:
            _iptables("-I", "DOCKER-USER", "-j", chain)


# --- the task metadata endpoint v4 ---------------------------------------------------------------
def _container_metadata(real):
    container, task = real.container, real.task
    known = {"starting": "PENDING", "running": "RUNNING"}.get(real.state, "STOPPED")
    metadata = {
        "DockerId": real.container_id, "Name": container["name"], "DockerName": real.docker_name,
        "Image": container["image"], "ImageID": real.image_id,
        "Labels": {"com.amazonaws.ecs.cluster": real.cluster_arn, "com.amazonaws.ecs.container-name": container["name"],
                   "com.amazonaws.ecs.task-arn": task.task_arn,
                   "com.amazonaws.ecs.task-definition-family": real.task_definition.family,
                   "com.amazonaws.ecs.task-definition-version": str(real.task_definition.revision)},
        "DesiredStatus": "RUNNING" if real.state in ("starting", "running") else "STOPPED", "KnownStatus": known,
        "Limits": {"CPU": int(container.get("cpu") or 0), "Memory": int(container.get("memory") or 0)},
        "CreatedAt": real.created_at, "StartedAt": real.started_at, "Type": "NORMAL",
        "ContainerARN": next((c["containerArn"] for c in task.containers if c.get("name") == container["name"]), None),
        "Networks": [{"NetworkMode": "awsvpc", "IPv4Addresses": [real.ip],
                      "AttachmentIndex": 0, "IPv4SubnetCIDRBlock": real.vpc_cidr,
                      "PrivateDNSName": f"ip-{real.ip.replace('.', '-')}.ec2.internal"}],
    }
    if real.log_options:
        metadata.update(LogDriver="awslogs", LogOptions={k: v for k, v in real.log_options.items()
                                                         if k in ("awslogs-group", "awslogs-region", "awslogs-stream")})
    return metadata


def _task_metadata(real):
    task = real.task
    return {
        "Cluster": real.cluster_arn, "ServiceName": real.service_name, "TaskARN": task.task_arn,
        "Family": real.task_definition.family, "Revision": str(real.task_definition.revision),
        "DesiredStatus": "RUNNING", "KnownStatus": "RUNNING" if real.state == "running" else "PENDING",
        "PullStartedAt": real.created_at, "PullStoppedAt": real.created_at,
        "AvailabilityZone": getattr(task, "availability_zone", None), "LaunchType": "EC2",
        "Containers": [_container_metadata(real)],
    }


class _MetadataHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server interface
        parts = self.path.rstrip("/").split("/")
        real = None
        if len(parts) >= 3 and parts[1] in ("v4", "v3"):
            with _LOCK:
                real = next((r for r in _TASKS.values() if r.token == parts[2]), None)
        if real is None or len(parts) > 4 or (len(parts) == 4 and parts[3] != "task"):
            self.send_response(404)
            self.end_headers()
            return
        with _LOCK:
            body = _task_metadata(real) if len(parts) == 4 else _container_metadata(real)
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # quiet: the launcher's log is moto's
        pass


def _metadata_server(address):
    server = ThreadingHTTPServer((address, 0), _MetadataHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name=f"ecs-metadata-{address}").start()
    return server
