#!/usr/bin/env python3
"""The local cloud's moto server, with fixes that make moto 5.2.5 behave as AWS documents.

Started by scripts/local-cloud instead of `moto_server`. Each fix models one
documented AWS behaviour that moto gets wrong and that stackup relies on; none
of them changes what stackup does (the product never special-cases moto).

1. RDS DBParameterGroup: in AWS, `Ref` returns the group name (AWS::RDS::DBParameterGroup,
   "Return values").  moto returns its Python object, so a DBInstance with
   DBParameterGroupName {"Ref": ...} fails with HTTP 500 ('DBParameterGroup' object has no
   attribute 'startswith').  Fix: give the model a physical_resource_id (its name).

2. AWS::EC2::VPC: moto ignores EnableDnsSupport/EnableDnsHostnames (hostnames stay false),
   and moto's RunTask with awsvpc needs DNS hostnames on.  Fix: apply both properties.

3. moto 5.2.5 builds a CREATE change set's stack with an empty template and no cross-stack
exports, and ExecuteChangeSet never rebuilds the outputs.  Result: Fn::ImportValue fails
("No export named ... found") and the new stack has no Outputs and registers no Exports.
AWS (CloudFormation API reference, ExecuteChangeSet / Outputs / Exports) resolves imports
against the region's exports and publishes the stack's outputs and exports once created.

4. Change sets (CloudFormation API reference: CreateChangeSet, DescribeChangeSet,
   ExecuteChangeSet, DeleteChangeSet).  moto: an UPDATE change set compares only the
   submitted parameters (not defaults, not tags), so a new tag is "no changes" and a
   parameter-only change lists no Changes; when template and parameters are equal it may
   raise UpdateStack's "No updates are to be performed." from CreateChangeSet; ExecuteChangeSet
   never records the new parameters or tags, so the next identical run is not "no changes";
   a CREATE change set for an existing name makes a second stack of that name; a change set
   name is looked up across all stacks (StackName ignored) and a missing one is
   "Stack with id X does not exist".  AWS: a change set with the same template, parameter
   values and tags ends FAILED with "The submitted information didn't contain changes.
   Submit different information to create a change set."; a parameter change lists the
   resources that use it as Modify; CREATE on an existing stack is ValidationError
   "Stack [X] already exists and cannot be created again with the changeSet [Y]." except
   for a stack in REVIEW_IN_PROGRESS, which is reused; a change set name is resolved within
   StackName; a missing change set is ChangeSetNotFound (404).  Which resources a change set
   lists, given the template's Conditions: see 13.

5. ListImports (API reference: ListImports): moto returns HTTP 500.  AWS lists the names of
   the stacks that import the export, paged with NextToken; an export nobody imports is
   ValidationError "Export 'X' is not imported by any stack."  Also (ListExports, Outputs):
   an output whose Condition is false is not exported; moto lists it with no value.

6. DeleteStack (API reference: DeleteStack, DescribeStacks, DescribeStackEvents; user guide
   "Delete a stack", "Fn::ImportValue").  moto deletes resources in no particular order and
   cannot delete route tables, routes, subnet associations, internet gateways and their
   attachments, NAT gateways, EIPs, VPC endpoints, ECS clusters, ELBv2 listeners and target
   groups (they leak), so a VPC stack fails with DependencyViolation; on a failure the stack
   vanishes from DescribeStacks while its exports stay; describing a deleted stack by id
   re-creates its resources (outputs are evaluated lazily); a stack whose exports are
   imported is deleted anyway.  AWS: resources are deleted in reverse dependency order; the
   stack ends DELETE_COMPLETE, leaves the default DescribeStacks listing and by name is
   "Stack with id X does not exist"; a resource that cannot be deleted leaves the stack
   DELETE_FAILED, StackStatusReason "The following resource(s) failed to delete: [X]. " and
   a DELETE_FAILED event for X, and DeleteStack can be retried.  A stack whose export
   another stack imports is not deleted: after DELETE_IN_PROGRESS it returns to its previous
   status (e.g. UPDATE_COMPLETE) with StackStatusReason "Export X cannot be deleted as it is
   in use by Y" (and an event saying so); AWS reports this, not DELETE_FAILED.

7. Stack updates (user guide "Update behaviors of stack resources"): for a resource type it
   cannot update (e.g. AWS::Logs::LogGroup) moto drops the resource from the stack (a later
   delete leaks it) and ignores the change.  AWS updates it in place.  Fix: keep the
   resource; apply LogGroup RetentionInDays (PutRetentionPolicy / DeleteRetentionPolicy).

8. ECS services (section "8: ECS service deployments" at the end of this file, whose
   docstring names the AWS pages it follows).  moto never launches a service's tasks, drops
   deploymentConfiguration on CreateService, never rolls out a new task definition and never
   completes or fails a deployment.  The model rolls services out as ECS's rolling update
   does, one scheduler step per DescribeServices call, with real tasks and service events,
   the deployment circuit breaker and rollback.  Tests arrange a failed rollout with
   `POST /moto-api/ecs-model/fail-deployments` and clear plans with
   `POST /moto-api/ecs-model/reset` (or `/moto-api/reset`).

9. CloudWatch speaks Smithy RPCv2 CBOR (the protocol aws-sdk-cloudwatch uses; botocore lists
   it first: ["smithy-rpc-v2-cbor", "json", "query"]): POST /service/<service>/operation/<Op>
   with a CBOR body and the header smithy-protocol: rpc-v2-cbor.  moto 5.2.5 answers only the
   json and query protocols (getmoto/moto#9195).  The bridge (section "9" at the end) turns
   such a request into the same operation in the json protocol (X-Amz-Target
   <service>.<Op>, awsJson1_0) and the answer back into CBOR, shape by shape from botocore's
   model (Smithy "RPC v2 CBOR protocol": timestamps are tag 1 epoch seconds, blobs are byte
   strings, errors carry "__type", the response has the smithy-protocol header).

10. ECS task size (developer guide "Amazon ECS task definition parameters", "Task size"; API
   reference ContainerDefinition memory / memoryReservation).  For the EC2 launch type a
   container needs memory or memoryReservation unless the task definition has task-level
   memory, and task-level cpu and memory (integers, or "1 vCPU" / "2 GB") are then what the
   task reserves.  moto adds up the containers' memory only, so a task definition with only
   task-level cpu and memory crashed its RunTask and our scheduler (section 8): every
   DescribeServices of the service answered HTTP 500 until it was force-deleted.  Fix: a task
   reserves the task-level cpu and memory when set, else the sum of its containers' cpu and
   memoryReservation (else memory), as the parameter reference says; a size given in units
   is registered as the integer ("0.5 GB" as "512").

11. Errors (API references "Common Errors": InternalFailure, HTTP 500; ECS ServerException,
   SSM InternalServerError, CloudWatch Logs ServiceUnavailableException; EC2 "Error codes":
   InternalError).  Any other exception inside a moto model or a fix here became werkzeug's
   HTML page, which clients cannot read ("unknown error", no code).  Fix: it is answered as
   AWS answers a server error in the protocol of the request: JSON {"__type", "message"} for
   the JSON protocols (and so, through 9, CBOR), the query protocol's <ErrorResponse> (EC2's
   <Response><Errors>), REST-XML's <Error>; the message names what failed and the server
   log keeps the traceback.  moto's own errors are unchanged.

12. FilterLogEvents (CloudWatch Logs API reference: FilterLogEvents).  moto ignores
   logStreamNamePrefix and returns every stream's events.  AWS: only events of the streams
   whose names start with the prefix (or of logStreamNames); specifying both is
   InvalidParameterException.

13. Conditions (user guide "Conditions syntax", "Condition functions"; API reference
   DescribeChangeSet).  moto lists every resource of the template in a change set, also those
   whose Condition is false (3 NAT gateways for a single-NAT stack of 3 zones), and an update
   never adds or removes a resource whose condition changes.  AWS evaluates the conditions
   (Fn::Equals, Fn::Not, Fn::And, Fn::Or, {"Condition": name}) with the parameter values
   (defaults included; a Number's Ref is a string): a resource whose condition is false is
   neither created nor listed; one whose condition turns false is Remove, true is Add; one
   using a changed parameter or, through Fn::If, a changed condition is Modify.  Fix: the diff
   behind change sets and updates does so (an update adds and changes first, then deletes
   the removed resources as DeleteStack does, 6); DescribeStackResources and
   ListStackResources list only the resources the stack has.  moto already leaves out an
   Output whose condition is false.

14. RDS master users (RDS user guide "Master user account privileges"; CreateDBInstance
   MasterUsername / MasterUserPassword).  Every stack's AWS::RDS::DBInstance is, on the local
   cloud, the one PostgreSQL that scripts/local-cloud starts (state.json), and moto makes no
   role.  When CloudFormation creates or updates a stack with a DBInstance whose
   MasterUsername is U and MasterUserPassword P, the launcher makes role U exist on that
   server with LOGIN, CREATEDB and CREATEROLE (RDS's master user is not a superuser).  One
   server holds every stack's databases and a role has one password, so the model is "a
   master user keeps its first password": the server's superuser (postgres) has
   scripts/local-cloud's password; any other role gets the first P the launcher is given for
   it (remembered in .local-cloud/pg/master-users.json, mode 0600).  When a stack names a role
   whose password on the server is not its P, its instance is given the server's password
   instead, and the stack says so: the stack parameter its MasterUserPassword refers to, and
   the stack's SSM parameter /stackup/<stack id>/database/master-password when it holds P,
   now hold the server's password (the value of the parameter's current version is replaced,
   with a Description saying why: stackup stored it once, and a later create-stack, passing
   what the parameter holds, sees no change).  Passwords reach PostgreSQL as SCRAM verifiers,
   never in SQL text, and are never printed.

15. RDS storage autoscaling (AWS::RDS::DBInstance MaxAllocatedStorage; RDS user guide
   "Managing capacity automatically with Amazon RDS storage autoscaling").  moto's
   CloudFormation model of a DBInstance drops MaxAllocatedStorage, so DescribeDBInstances
   never shows the ceiling a template sets.  Fix: the instance made from a template keeps it
   (the API's CreateDBInstance already does).

16. Exports in use (user guide "Fn::ImportValue": "You can't modify or remove an output value
   that is referenced by another stack"; API reference UpdateStack, ExecuteChangeSet,
   DescribeStacks, DescribeStackEvents, DescribeChangeSet ExecutionStatus; user guide "Stack
   status codes").  moto applies an update (ExecuteChangeSet or UpdateStack) that changes the
   value of an export another stack imports, or removes it, so the value changes under the
   importer; and UpdateStack never republishes the stack's exports (ListExports and new imports
   keep the values of its creation).  AWS: the update is not refused up front; it starts
   (UPDATE_IN_PROGRESS), the resources are updated, and before the old ones are cleaned up the
   stack goes UPDATE_ROLLBACK_IN_PROGRESS, reason "Update canceled. Cannot update export X as it
   is in use by Y." (an export the update removes: "Delete canceled. Cannot delete export X as
   it is in use by Y."; the wording stack events show on AWS); the changed resources get their
   previous properties back, UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS deletes those the
   update created, and the stack ends UPDATE_ROLLBACK_COMPLETE with its template, parameters,
   resources, outputs and exports as before; the change set is EXECUTE_FAILED.  The reason is
   on the stack's UPDATE_ROLLBACK_IN_PROGRESS event (no event is UPDATE_FAILED); DescribeStacks'
   StackStatusReason keeps it until the next update.  Only an export another stack imports (see
   5) and whose value changes or that goes counts: an update leaving such values as they are,
   or adding exports, completes.  Fix: that sequence, and UpdateStack publishes the stack's
   exports as ExecuteChangeSet does (3).  Not modelled: a resource moto replaced (rather than
   updated in place) comes back with a new physical id; DisableRollback (UPDATE_FAILED) is
   ignored; with several importers the reason names them as 6 does (AWS's list form unseen).

17. ECR's registry endpoint (ECR API reference: GetAuthorizationToken, AuthorizationData,
   Repository repositoryUri; ECR user guide "Private registry authentication").  In AWS the
   token "represents your IAM authentication credentials", is valid for 12 hours, decodes to
   user:password (user AWS) that the registry at proxyEndpoint accepts for docker login, and a
   repository's URI names that registry.  moto's token is AWS:<account>-auth-token, expired
   (2015), for https://<account>.dkr.ecr.<region>.amazonaws.com, where nothing listens.  On
   the local cloud the registry is Debian's docker-registry that scripts/local-cloud starts
   with htpasswd authentication (state.json "registry").  Fix: when it runs, the token decodes
   to AWS:<the password its htpasswd accepts>, expires 12 hours after it is issued, and
   proxyEndpoint and every repositoryUri name http://127.0.0.1:<port> (a loopback registry,
   which Docker reaches without TLS).  Without a local registry moto's answers are unchanged.

18. AWS::ECR::Repository in a template (CloudFormation resource reference AWS::ECR::Repository:
   ImageScanningConfiguration ScanOnPush, EncryptionConfiguration EncryptionType / KmsKey,
   LifecyclePolicy LifecyclePolicyText; ECR API DescribeRepositories, GetLifecyclePolicy).  moto
   passes the template's properties on in CloudFormation's casing where its API model expects
   the API's (ScanOnPush for scanOnPush), so DescribeRepositories shows neither scan on push
   nor the KMS encryption the template asks for, and it drops the lifecycle policy.  Fix: the
   properties are given in the API's casing, and the policy text is put as
   PutLifecyclePolicy would (also on update).

19. Dynamic references (user guide "Get values stored in other services using dynamic
   references", "Get a plaintext value from Systems Manager Parameter Store", "Get a secure
   string value from Systems Manager Parameter Store").  moto passes `{{resolve:ssm:NAME}}`
   and `{{resolve:ssm-secure:NAME}}` on as literal text, so a DBInstance's MasterUserPassword
   read that way would be the reference itself.  AWS replaces each reference (in a literal or
   in what Fn::Sub or Fn::Join make) by the current value of the parameter in the stack's
   account and region, or of version V with `NAME:V`, decrypted for ssm-secure; the stack
   only ever shows the reference.  A reference to a parameter that does not exist fails the
   operation: "Parameters: [ssm-secure:NAME] cannot be found."  (ssm-secure on a String, or ssm
   on a SecureString, is an error on AWS too.)  Fix: resources receive the resolved values;
   templates, parameters and DescribeStacks keep the references.

20. Termination protection (user guide "Protect a stack from being deleted"; API reference
   UpdateTerminationProtection, DeleteStack, DescribeStacks EnableTerminationProtection).  moto
   has no UpdateTerminationProtection (HTTP 500: not implemented) and deletes a protected stack.
   AWS: UpdateTerminationProtection turns the protection on or off (StackId in the answer;
   a missing stack is ValidationError "Stack [X] does not exist"); DescribeStacks shows it; a
   DeleteStack of a protected stack fails, nothing deleted: ValidationError "Stack [X] cannot
   be deleted while TerminationProtection is enabled".  Fix: that.

21. Stack policies (user guide "Prevent updates to stack resources": a policy's Allow and Deny
   statements over Update:Modify, Update:Replace, Update:Delete, Update:*, by Resource
   "LogicalResourceId/<id>" or NotResource, with wildcards, and a ResourceType Condition; an
   explicit Deny wins, and what no statement allows is denied; "Update behaviors of stack
   resources": changing a create-only property replaces the resource).  moto stores a policy
   (SetStackPolicy, GetStackPolicy, CreateStack StackPolicyBody) and enforces nothing.  AWS
   refuses, during the update, each change the policy does not allow: the resource's event is
   UPDATE_FAILED "Action denied by stack policy: Statement [#N] does not allow [ACTIONS] for
   resource [RESOURCES];", where N counts the policy's statements from 1 and ACTIONS and RESOURCES
   are the denying statement's own Action and Resource lists as written, joined with ", " (as
   events on AWS show it: a policy whose one statement denies Update:* on * refuses a
   modification with "... Statement [#1] does not allow [Update:*] for resource [*];", one
   denying two actions says "[Update:Replace, Update:Delete]"), so the resource refused is the
   event's LogicalResourceId, not the text's; and the stack rolls back to UPDATE_ROLLBACK_COMPLETE
   ("The following resource(s) failed to update: [X]. "), its template, parameters and
   resources as before; the change set is EXECUTE_FAILED.  Fix: before an update (ExecuteChangeSet
   or UpdateStack) of a stack with a policy changes anything (adding a resource is not governed
   by a policy), each modified resource is Update:Replace when a create-only property changes
   (the properties the CloudFormation resource schemas cfn-lint ships list as
   createOnlyProperties; values compared with the parameters, old and new, put in for Ref and
   Fn::Sub; a resource referring in such a property to a replaced resource is replaced too),
   Update:Modify otherwise, and each removed one Update:Delete; the first denied is refused as
   above (through the rollback of 16).  A stack's UpdateStack StackPolicyDuringUpdateBody is
   not modelled (ExecuteChangeSet has none).

22. Major engine upgrades (RDS user guide "Upgrading the PostgreSQL DB engine for Amazon RDS",
   "Choosing a major version upgrade"; API reference ModifyDBInstance AllowMajorVersionUpgrade,
   DBParameterGroupName; AWS::RDS::DBInstance EngineVersion "Update requires: No interruption"
   or "Some interruptions", AllowMajorVersionUpgrade).  moto's CloudFormation cannot update a
   DBInstance (7 keeps it as it was), so a template's new EngineVersion or DBParameterGroupName
   never reaches DescribeDBInstances, and a major version change is accepted without the flag.
   AWS: the update of the instance fails, and the stack rolls back as 21 describes, when the
   major version goes up without AllowMajorVersionUpgrade true ("The AllowMajorVersionUpgrade
   flag must be present when upgrading to a new major version."), when the instance's parameter
   group is not of the new version's family ("The parameter group X with DBParameterGroupFamily
   postgres15 can't be used for this instance. Use a parameter group with DBParameterGroupFamily
   postgres16."), or when it goes down ("Cannot upgrade postgres from 16 to 15").  Fix: those
   refusals before an update changes anything (the versions compared are the instance's and the
   template's with its parameters and conditions put in), and an update that passes them gives
   the instance the template's EngineVersion and DBParameterGroupName.

25. ECS tasks as real containers (developer guide "Amazon ECS container agent", "Task networking
   for tasks on Amazon EC2 instances", "Pass sensitive data to an Amazon ECS container" (SSM
   Parameter Store), "Amazon ECS task metadata endpoint version 4", "Send Amazon ECS logs to
   CloudWatch" (awslogs), "Amazon ECS stopped tasks errors" / "CannotPullContainer task errors").
   moto's tasks, and the model's of 8, are records: nothing runs.  AWS: the agent on the
   container instance pulls the image with the execution role's credentials (a registry it
   cannot reach: stopCode TaskFailedToStart, "CannotPullContainerError: ..."), gives the task
   its ENI's address, resolves `environment` and `secrets` (SSM parameters, SecureStrings
   decrypted) into the container's environment, serves ${ECS_CONTAINER_METADATA_URI_V4} and
   its /task, sends stdout/stderr to the awslogs stream <prefix>/<container>/<task id>, stops
   the container with SIGTERM and SIGKILL after stopTimeout (30 s), and a task whose essential
   container exits stops (EssentialContainerExited, the exit code), which a service replaces.
   Fix (scripts/ecs_real_tasks.py, whose docstring says how): for the accounts that ask
   (`POST /moto-api/ecs-model/real-tasks {"account_id", "enabled"}`), each task the model of 8
   starts is a container under the local cloud's Docker engine, pulled from the local registry
   (17), on a bridge network per VPC at the task's address, with an alias equal to the service's
   DNS name (the Cloud Map stand-in); PENDING until it runs, stopped when the model stops it.
   Other accounts keep records only (their images are made up).  `POST /moto-api/reset` and
   `scripts/local-cloud down` remove every container.

24. Cloud Map in a template (CloudFormation resource reference AWS::ServiceDiscovery::PrivateDnsNamespace
   and AWS::ServiceDiscovery::Service, "Return values"; Cloud Map API reference DeleteService,
   DeleteNamespace).  moto's CloudFormation skips both types (the stack completes without them),
   so no namespace or service exists and every Ref / Fn::GetAtt of them is empty.  AWS: the
   namespace is created in the template's Vpc (Ref and GetAtt Id: its id; GetAtt Arn,
   HostedZoneId), the service in NamespaceId with its DnsConfig and HealthCheckCustomConfig (Ref
   and GetAtt Id: its id; GetAtt Arn, Name); Name and Vpc of a namespace and Name, NamespaceId and
   HealthCheckCustomConfig of a service are create-only (a change replaces the resource);
   Description, DnsConfig TTLs and Tags update in place; a service with registered instances
   cannot be deleted (ResourceInUse), nor a namespace that still has services.  Fix: both types,
   through moto's Service Discovery backend, with those return values and rules.

26. Images pushed to ECR's registry (ECR API reference: DescribeImages, ListImages, ImageDetail,
   ImageNotFoundException; ECR user guide "Pushing a Docker image": an image pushed with docker
   push is an image of the repository).  moto's ECR API knows only the images PutImage put, so
   an image pushed to the local cloud's registry (17) is unknown to DescribeImages
   (ImageNotFoundException) although ECS pulls it.  AWS: DescribeImages and ListImages list
   every image pushed, by tag and manifest digest.  Fix: when the local registry runs,
   DescribeImages and ListImages of a repository first read the registry's tags of the same
   name (GET /v2/<name>/tags/list, then each tag's manifest with its Docker-Content-Digest)
   and record those moto lacks as PutImage would; a repository moto does not have is still
   RepositoryNotFoundException, a tag or digest the registry lacks ImageNotFoundException.

27. ECS capacity providers (CloudFormation template reference AWS::ECS::CapacityProvider,
   AutoScalingGroupProvider, AWS::ECS::ClusterCapacityProviderAssociations; ECS API reference
   CreateService, UpdateService capacityProviderStrategy / forceNewDeployment; developer guide
   "Safely stop Amazon ECS workloads running on EC2 instances", "Configuring Amazon ECS capacity
   providers to safely shut down instances").  moto's CloudFormation skips both types (the stack
   completes without them; a Ref to them is empty and an Output using one vanishes); CreateService
   drops capacityProviderStrategy, reports launchType EC2 whatever was asked, accepts a launch type
   and a strategy together and a provider the cluster does not have, and ignores the cluster's
   default strategy; UpdateService moves a service to a strategy without forceNewDeployment.  AWS:
   the provider (Ref: its name; managed draining on unless the template turns it off) and the
   cluster's providers and default strategy exist; a service created with a strategy, or with
   neither and a cluster default, runs on it and has no launchType; both together, or a provider
   not associated with the cluster, is InvalidParameterException; changing the strategy (from a
   launch type too) needs forceNewDeployment ("When switching from launch type to capacity
   provider strategy on an existing service, ... you must force a new deployment.").  Fix
   (scripts/ecs_capacity_providers.py, whose docstring gives each rule and message): that; the
   model of 8 gives a service's deployments its strategy and its tasks the provider's name.

28. AWS::KMS::Key in a template (CloudFormation template reference AWS::KMS::Key: Tags, and
   Description, EnableKeyRotation, Enabled, KeyPolicy updating with "No interruption"; KMS API
   reference TagResource, GetKeyPolicy; KMS developer guide "Editing keys").  moto hands the
   template's Tags ({Key, Value}) to its KMS backend, which reads the API's {TagKey, TagValue}:
   a key with Tags fails to create (KeyError 'TagKey', HTTP 500, the stack stuck
   CREATE_IN_PROGRESS); it keeps the KeyPolicy as an object, so GetKeyPolicy answers no document
   and DescribeKey of the key fails; it cannot update a key (7 keeps it unchanged).  AWS tags
   the key, keeps its policy as a JSON document, and updates all five in place.  Fix
   (scripts/kms_keys.py, whose docstring says how): that.

29. Template body size (CloudFormation user guide "CloudFormation quotas": "Template body size in
   a request", 51,200 bytes; a larger template goes through TemplateURL).  moto takes a
   TemplateBody of any size.  AWS refuses CreateStack, UpdateStack, CreateChangeSet and
   ValidateTemplate with a longer one: ValidationError "1 validation error detected: Value
   '<body>' at 'templateBody' failed to satisfy constraint: Member must have length less than
   or equal to 51200".  Fix: that, before moto reads the request (the value is shortened to
   its first 64 characters here: AWS echoes all of it).

usage: moto_server.py -H 127.0.0.1 -p PORT
"""
import re
import sys

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation.exceptions import CloudFormationError, ValidationError
from moto.cloudformation.responses import CloudFormationResponse
from moto.cloudformation.utils import generate_changeset_id
from moto.core.responses import ActionResult, EmptyResult
from moto.server import main


def _find_change_set(backend, change_set_name):
    return backend.change_sets.get(change_set_name) or next(
        (cs for cs in backend.change_sets.values() if cs.change_set_name == change_set_name), None)


# --- 3 and 4: ExecuteChangeSet publishes outputs/exports and records what was submitted ---
_orig_execute = cfn_models.CloudFormationBackend.execute_change_set


def execute_change_set(self, change_set_name, stack_name=None):
    change_set = _find_change_set(self, change_set_name)
    if change_set is not None:
        # Imports resolve against the region's exports, as for CreateStack.
        change_set.stack.cross_stack_resources = self.exports
        change_set.stack.resource_map.cross_stack_resources = self.exports
    _orig_execute(self, change_set_name, stack_name)
    if change_set is not None:
        stack = change_set.stack
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()
        stack.parameters = change_set.parameters
        if change_set.tags:  # no Tags: the stack keeps its tags
            stack.tags = change_set.tags
        stack.status_reason = None
        _publish_exports(self, stack)


def _publish_exports(backend, stack):
    """The region's exports of a stack are those its outputs now export (also after UpdateStack, 16)."""
    for name in [n for n, e in backend.exports.items() if e.exporting_stack_id == stack.stack_id]:
        del backend.exports[name]
    for export in stack.exports:
        backend.exports[export.name] = export


cfn_models.CloudFormationBackend.execute_change_set = execute_change_set


# --- 4: change sets as AWS documents them ---
NO_CHANGES = ("The submitted information didn't contain changes. "
              "Submit different information to create a change set.")


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFound"


def _parameter_values(template_dict, parameters):
    """The values a stack would use: template defaults overridden by the submitted values."""
    declared = template_dict.get("Parameters") or {}
    values = {k: str(v["Default"]) for k, v in declared.items() if "Default" in v}
    values.update({k: str(v) for k, v in parameters.items() if k in declared})
    return values


def change_set_diff(self):
    # moto's own diff, given the parameters too: resources that Ref a changed one are Modify.
    resource_map = self.stack.resource_map
    names = resource_map.build_resource_diff(self.template_dict, self.parameters)
    changes = []
    for action, logical_ids in names.items():
        for logical_id in dict.fromkeys(logical_ids):
            resource = self.template_dict["Resources"].get(logical_id) or resource_map._resource_json_map[logical_id]
            changes.append(cfn_models.Change(action, logical_id, resource["Type"]))
    return changes


cfn_models.ChangeSet.diff = change_set_diff

_orig_create_change_set = cfn_models.CloudFormationBackend.create_change_set


def create_change_set(self, stack_name, change_set_name, template, parameters, description, change_set_type,
                      notification_arns=None, tags=None, role_arn=None):
    live = next((s for s in self.stacks.values() if s.name == stack_name), None)
    if change_set_type == "CREATE" and live is not None:
        if live.status != "REVIEW_IN_PROGRESS":
            raise ValidationError(message=f"Stack [{stack_name}] already exists and cannot be created "
                                          f"again with the changeSet [{change_set_name}].")
        change_set_id = generate_changeset_id(change_set_name, self.region_name, self.account_id)
        change_set = cfn_models.ChangeSet("CREATE", change_set_id, change_set_name, live, template, parameters,
                                          description, notification_arns, tags, role_arn)
        change_set.status, change_set.execution_status = "CREATE_COMPLETE", "AVAILABLE"
        self.change_sets[change_set_id] = change_set
        return change_set_id, live.stack_id
    change_set_id, stack_id = _orig_create_change_set(
        self, stack_name, change_set_name, template, parameters, description, change_set_type,
        notification_arns=notification_arns, tags=tags, role_arn=role_arn)
    change_set = self.change_sets[change_set_id]
    if change_set_type == "UPDATE":
        stack = change_set.stack
        unchanged = (stack.has_template(template)
                     and _parameter_values(stack.template_dict, stack.parameters)
                     == _parameter_values(change_set.template_dict, parameters)
                     and (not tags or tags == stack.tags))
        if unchanged:
            change_set.status, change_set.execution_status = "FAILED", "UNAVAILABLE"
            change_set.status_reason = NO_CHANGES
        else:
            change_set.status, change_set.execution_status = "CREATE_COMPLETE", "AVAILABLE"
            change_set.status_reason = None
    return change_set_id, stack_id


cfn_models.CloudFormationBackend.create_change_set = create_change_set

_orig_validate_different_update = CloudFormationResponse._validate_different_update


def _validate_different_update(self, incoming_params, stack_body, old_stack):
    # "No updates are to be performed." is UpdateStack's answer; a change set goes FAILED instead.
    if self._get_param("ChangeSetName") is None:
        _orig_validate_different_update(self, incoming_params, stack_body, old_stack)


CloudFormationResponse._validate_different_update = _validate_different_update


TEMPLATE_BODY_LIMIT = 51200  # entry 29


def _template_body_within_limit(handler):
    def checked(self):
        body = self._get_param("TemplateBody")
        if body is not None and len(body.encode()) > TEMPLATE_BODY_LIMIT:
            raise ValidationError(message=(
                f"1 validation error detected: Value '{body[:64]}...' at 'templateBody' failed to "
                f"satisfy constraint: Member must have length less than or equal to {TEMPLATE_BODY_LIMIT}"))
        return handler(self)
    return checked


for _action in ("create_stack", "update_stack", "create_change_set", "validate_template"):
    setattr(CloudFormationResponse, _action, _template_body_within_limit(getattr(CloudFormationResponse, _action)))


def _change_set_arn(self):
    """ChangeSetName is an ARN, or a name within StackName (name or stack id)."""
    backend = self.cloudformation_backend
    name, stack_name = self._get_param("ChangeSetName"), self._get_param("StackName")
    if name in backend.change_sets:
        return name
    if name.startswith("arn:"):
        raise ChangeSetNotFound(f"ChangeSet [{name}] does not exist")
    if not stack_name:
        raise ValidationError(message="StackName must be specified if ChangeSetName is not specified as an ARN.")
    stack_ids = {s.stack_id for s in backend.stacks.values() if stack_name in (s.name, s.stack_id)}
    for arn, change_set in backend.change_sets.items():
        if change_set.change_set_name == name and change_set.stack_id in stack_ids:
            return arn
    raise ChangeSetNotFound(f"ChangeSet [{name}] does not exist")


def describe_change_set_response(self):
    return ActionResult(self.cloudformation_backend.change_sets[_change_set_arn(self)])


def execute_change_set_response(self):
    self.cloudformation_backend.execute_change_set(_change_set_arn(self), self._get_param("StackName"))
    return EmptyResult()


def delete_change_set_response(self):
    self.cloudformation_backend.delete_change_set(_change_set_arn(self))
    return EmptyResult()


CloudFormationResponse.describe_change_set = describe_change_set_response
CloudFormationResponse.execute_change_set = execute_change_set_response
CloudFormationResponse.delete_change_set = delete_change_set_response


# --- 5: ListImports; conditional outputs are not exported ---
def _imported_export_names(stack):
    """Names of the exports a stack's template imports (resources and outputs whose Condition holds)."""
    names, resource_map = set(), stack.resource_map

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "Fn::ImportValue":
                    names.add(cfn_parsing.clean_json(value, resource_map))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for section in ("Resources", "Outputs"):
        for entry in (stack.template_dict.get(section) or {}).values():
            if "Condition" not in entry or resource_map.lazy_condition_map.get(entry["Condition"]):
                walk(entry)
    return names


def _importers(backend, export_name, except_stack_id=None):
    return sorted(s.name for s in backend.stacks.values()
                  if s.stack_id != except_stack_id and export_name in _imported_export_names(s))


def list_imports_response(self):
    export_name, token = self._get_param("ExportName"), self._get_param("NextToken")
    importers = _importers(self.cloudformation_backend, export_name)
    if not importers:
        raise ValidationError(message=f"Export '{export_name}' is not imported by any stack.")
    start = int(token) if token and token.isdigit() else 0
    page = importers[start:start + 100]
    next_token = str(start + 100) if len(importers) > start + 100 else None
    return ActionResult({"Imports": page, "NextToken": next_token})


CloudFormationResponse.list_imports = list_imports_response


def output_map_exports(self):
    resource_map = self._resource_map
    return [cfn_parsing.Export(self._stack_id, cfn_parsing.clean_json(o["Export"].get("Name"), resource_map),
                               cfn_parsing.clean_json(o.get("Value"), resource_map))
            for o in (self._output_json_map or {}).values()
            if o.get("Export") and ("Condition" not in o or resource_map.lazy_condition_map.get(o["Condition"]))]


cfn_parsing.OutputMap.exports = property(output_map_exports)


# --- 6: DeleteStack ---
def _references(node, names):
    """Logical ids that node refers to through Ref, Fn::GetAtt or Fn::Sub."""
    found = set()

    def walk(n):
        if isinstance(n, dict):
            for key, value in n.items():
                if key == "Ref" and value in names:
                    found.add(value)
                elif key == "Fn::GetAtt":
                    target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                    found.update({target} & names)
                elif key == "Fn::Sub":
                    text = value if isinstance(value, str) else value[0]
                    found.update(set(re.findall(r"\$\{([^!}.]+)", text)) & names)
                walk(value)
        elif isinstance(n, list):
            for item in n:
                walk(item)

    walk(node)
    return found


def _creation_order(resources):
    names = set(resources)
    deps = {}
    for logical_id, resource in resources.items():
        depends_on = resource.get("DependsOn") or []
        depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
        deps[logical_id] = _references(resource, names) | set(depends_on)
    order, seen = [], set()

    def visit(logical_id):
        if logical_id not in seen:
            seen.add(logical_id)
            for dep in sorted(deps[logical_id]):
                visit(dep)
            order.append(logical_id)

    for logical_id in resources:
        visit(logical_id)
    return order


def _ec2(account_id, region_name):
    from moto.ec2.models import ec2_backends
    return ec2_backends[account_id][region_name]


def _delete_subnet_association(r, account_id, region_name):
    _ec2(account_id, region_name).subnet_associations.pop(f"{r.route_table_id}:{r.subnet_id}", None)


def _delete_gateway_attachment(r, account_id, region_name):
    if (r.gateway_id or "").startswith("igw-"):
        _ec2(account_id, region_name).detach_internet_gateway(r.gateway_id, r.vpc_id)


def _delete_cluster(r, account_id, region_name):
    from moto.ecs.models import ecs_backends
    ecs_backends[account_id][region_name].delete_cluster(r.name)


def _elbv2(account_id, region_name):
    from moto.elbv2.models import elbv2_backends
    return elbv2_backends[account_id][region_name]


# Resource types moto's CloudFormation cannot delete, with the EC2/ECS/ELBv2 call AWS makes.
# (SecurityGroupIngress has none either; its rules go with their security group.)
_DELETERS = {
    "AWS::EC2::Route": lambda r, a, g: _ec2(a, g).delete_route(
        r.route_table.id, r.destination_cidr_block, r.destination_ipv6_cidr_block, r.destination_prefix_list_id),
    "AWS::EC2::SubnetRouteTableAssociation": _delete_subnet_association,
    "AWS::EC2::RouteTable": lambda r, a, g: _ec2(a, g).delete_route_table(r.id),
    "AWS::EC2::VPCGatewayAttachment": _delete_gateway_attachment,
    "AWS::EC2::InternetGateway": lambda r, a, g: _ec2(a, g).delete_internet_gateway(r.id),
    "AWS::EC2::NatGateway": lambda r, a, g: _ec2(a, g).delete_nat_gateway(r.id),
    "AWS::EC2::EIP": lambda r, a, g: _ec2(a, g).release_address(allocation_id=r.allocation_id),
    "AWS::EC2::VPCEndpoint": lambda r, a, g: _ec2(a, g).delete_vpc_endpoints([r.id]),
    "AWS::ECS::Cluster": _delete_cluster,
    "AWS::ElasticLoadBalancingV2::Listener": lambda r, a, g: _elbv2(a, g).delete_listener(r.arn),
    "AWS::ElasticLoadBalancingV2::TargetGroup": lambda r, a, g: _elbv2(a, g).delete_target_group(r.arn),
}


class _ResourceDeleteFailed(Exception):
    def __init__(self, logical_id, resource_type, physical_id, reason):
        super().__init__(reason)
        self.logical_id, self.resource_type, self.physical_id, self.reason = (
            logical_id, resource_type, physical_id, reason)


def resource_map_delete(self):
    """Delete the stack's resources in reverse dependency order; stop at the first failure."""
    for logical_id in reversed(_creation_order(self._resource_json_map)):
        resource_json = self._resource_json_map[logical_id]
        resource = self._parsed_resources.get(logical_id)
        if resource is None or isinstance(resource, str) or resource_json.get("DeletionPolicy") in (
                "Retain", "RetainExceptOnCreate"):
            continue
        try:
            self._delete_resource(resource, resource_json)  # with _DELETERS (section 13)
        except Exception as e:  # noqa: BLE001 - any backend error is the resource's failure reason
            raise _ResourceDeleteFailed(logical_id, resource_json["Type"],
                                        getattr(resource, "physical_resource_id", None), str(e)) from e
        # A tombstone, not a pop: the lazy map would re-create a missing resource the next
        # time an output or ListStackResources mentions it.
        self._parsed_resources[logical_id] = None


cfn_parsing.ResourceMap.delete = resource_map_delete


def _stack_names(names):
    """"A", "A and B", "A, B and C": the importing stacks a reason names."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _in_use_reason(backend, stack):
    for export in [e for e in backend.exports.values() if e.exporting_stack_id == stack.stack_id]:
        users = _importers(backend, export.name, except_stack_id=stack.stack_id)
        if users:
            return f"Export {export.name} cannot be deleted as it is in use by {_stack_names(users)}"
    return None


def delete_stack(self, name_or_stack_id):
    stack = self.stacks.get(name_or_stack_id) or next(
        (s for s in self.stacks.values() if s.name == name_or_stack_id), None)
    if stack is None:
        return  # AWS: deleting a stack that does not exist (or is deleted) succeeds
    previous = stack.status
    stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
    in_use = _in_use_reason(self, stack)
    if in_use:
        stack.status, stack.status_reason = previous, in_use
        stack._add_stack_event(previous, resource_status_reason=in_use)
        return
    try:
        stack.resource_map.delete()
    except _ResourceDeleteFailed as failure:
        stack.events.append(cfn_models.Event(
            stack.stack_id, stack.name, failure.logical_id, failure.physical_id, failure.resource_type,
            "DELETE_FAILED", failure.reason, None))
        stack.status = "DELETE_FAILED"
        stack.status_reason = f"The following resource(s) failed to delete: [{failure.logical_id}]. "
        stack._add_stack_event("DELETE_FAILED", resource_status_reason=stack.status_reason)
        return
    stack.status, stack.status_reason = "DELETE_COMPLETE", None
    stack.output_map = cfn_parsing.OutputMap(stack.resource_map, {}, stack.stack_id)  # a deleted stack has no outputs
    stack._add_stack_event("DELETE_COMPLETE")
    self.stacks.pop(stack.stack_id)
    self.deleted_stacks[stack.stack_id] = stack
    for name in [n for n, e in self.exports.items() if e.exporting_stack_id == stack.stack_id]:
        del self.exports[name]
    for arn in [a for a, cs in self.change_sets.items() if cs.stack_id == stack.stack_id]:
        del self.change_sets[arn]


cfn_models.CloudFormationBackend.delete_stack = delete_stack


# --- 7: resources moto cannot update stay in the stack; LogGroup retention is applied ---
_orig_parse_and_update_resource = cfn_parsing.parse_and_update_resource


def parse_and_update_resource(logical_id, resource_json, resources_map, account_id, region_name):
    updated = _orig_parse_and_update_resource(logical_id, resource_json, resources_map, account_id, region_name)
    if updated is not None:
        return updated
    original = resources_map._parsed_resources.get(logical_id)
    if resource_json["Type"] == "AWS::Logs::LogGroup" and original is not None:
        from moto.logs.models import logs_backends
        logs = logs_backends[account_id][region_name]
        days = cfn_parsing.clean_json(resource_json.get("Properties") or {}, resources_map).get("RetentionInDays")
        if days is None:
            logs.delete_retention_policy(original.name)
        else:
            logs.put_retention_policy(original.name, int(days))
    return original


cfn_parsing.parse_and_update_resource = parse_and_update_resource

from moto.rds import models as rds_models  # noqa: E402

rds_models.DBParameterGroup.physical_resource_id = property(lambda self: self.name)

from moto.ec2.models import ec2_backends  # noqa: E402
from moto.ec2.models import vpcs as vpc_models  # noqa: E402

_orig_vpc_create = vpc_models.VPC.create_from_cloudformation_json.__func__


def _truthy(v):
    return v is True or str(v).lower() == "true"


def vpc_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    vpc = _orig_vpc_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    props = cloudformation_json.get("Properties", {})
    backend = ec2_backends[account_id][region_name]
    for prop, attr in (("EnableDnsSupport", "enable_dns_support"), ("EnableDnsHostnames", "enable_dns_hostnames")):
        if prop in props:
            backend.modify_vpc_attribute(vpc.id, attr, _truthy(props[prop]))
    return vpc


vpc_models.VPC.create_from_cloudformation_json = classmethod(vpc_create)


# --- 8: ECS service deployments ---------------------------------------------------------------
import ipaddress  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import threading  # noqa: E402

from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.core.utils import camelcase_to_underscores, utcnow  # noqa: E402
from moto.ecs import models as ecs_models  # noqa: E402
from moto.ecs.responses import EC2ContainerServiceResponse  # noqa: E402
from moto.moto_api._internal import mock_random  # noqa: E402
from moto.moto_api._internal import models as moto_api_models  # noqa: E402
from moto.moto_api._internal import urls as moto_api_urls  # noqa: E402

_ECS_LOCK = threading.RLock()  # the server is threaded; model steps are not re-entrant
# (account id, cluster name, service name) -> {"reason": str, "exit_code": int | None}
_ECS_FAILURE_PLANS = {}
# DeploymentConfiguration defaults for a REPLICA service with the ECS deployment controller.
_ECS_DEFAULT_DEPLOYMENT_CONFIGURATION = {"deploymentCircuitBreaker": {"enable": False, "rollback": False},
                                         "maximumPercent": 200, "minimumHealthyPercent": 100}
# CreateService parameters moto drops (UpdateService keeps them under the same attribute names).
_ECS_KEPT_CREATE_PARAMS = ("deploymentConfiguration", "placementStrategy", "placementConstraints",
                           "healthCheckGracePeriodSeconds", "enableExecuteCommand")


def _ecs_step(backend, service):
    """One step of the ECS service scheduler for a service, run on each DescribeServices of it.

    Follows the ECS API reference data types "Service" and "Deployment" (status PRIMARY /
    ACTIVE, rolloutState IN_PROGRESS / COMPLETED / FAILED, rolloutStateReason, failedTasks,
    running/pending counts), "DeploymentConfiguration" and "DeploymentCircuitBreaker", the
    developer guide pages "Deploy Amazon ECS services by replacing tasks" (maximumPercent
    rounded down, minimumHealthyPercent rounded up), "How the Amazon ECS deployment circuit
    breaker detects failures" (threshold 0.5 * desired count, at least 3 and at most 200;
    rollback to the last COMPLETED deployment), "Service event messages" ("(service X) has
    started N tasks: (task T).", "has stopped N running tasks: ...", "(deployment D) deployment
    completed.", "has reached a steady state.", "(deployment D) deployment failed: tasks failed
    to start.", "rolling back to deployment D."; newest first, at most 100), "Amazon ECS
    service deployment state change events" (reasons "ECS deployment D in progress.",
    "ECS deployment D completed.", "ECS deployment circuit breaker: tasks failed to start.",
    "ECS deployment circuit breaker: rolling back to deploymentId D."), and "Amazon ECS task
    lifecycle" / DescribeTasks "Task" (lastStatus, desiredStatus, stopCode
    ServiceSchedulerInitiated / TaskFailedToStart, stoppedReason "Scaling activity initiated
    by (deployment D)").

    A step, in order: (a) when the PRIMARY deployment runs its desired count and nothing else
    runs or is pending, it is COMPLETED, older deployments go, and the service reports a
    steady state; (b) PENDING tasks become RUNNING, or STOPPED if their deployment was told to
    fail (failedTasks counts them); (c) the circuit breaker, when on, fails the PRIMARY at the
    threshold and, with rollback, starts a new PRIMARY with the last completed task
    definition; (d) tasks of older deployments (and PRIMARY tasks above desired) stop while
    the running total stays >= minimumHealthyPercent; (e) the PRIMARY starts tasks up to
    desired while the total stays <= maximumPercent.  So a first deployment completes on the
    3rd DescribeServices, a rolling update of 2 tasks (150/50) too.  No wall clock.
    Deviation: when the percentages leave no room at all (desired 1 at 150/50), one task is
    started anyway, so the model cannot stall.
    """
    deployments = service.deployments
    if service.status != "ACTIVE" or not deployments or deployments[0]["rolloutState"] == "FAILED":
        return
    primary = deployments[0]
    desired = primary["desiredCount"]
    config = {**_ECS_DEFAULT_DEPLOYMENT_CONFIGURATION, **(service.deployment_configuration or {})}
    if (len(_ecs_tasks(primary, "RUNNING")) == desired and not any(_ecs_tasks(d, "PENDING") for d in deployments)
            and not any(_ecs_tasks(d, "RUNNING") for d in deployments[1:])):
        if not service._ecs_steady:  # (a)
            if primary["rolloutState"] == "IN_PROGRESS":
                primary.update(rolloutState="COMPLETED", rolloutStateReason=f"ECS deployment {primary['id']} completed.",
                               updatedAt=utcnow())
                service._ecs_last_completed = (primary["id"], primary["taskDefinition"])
                _ecs_event(service, f"(deployment {primary['id']}) deployment completed.")
            del deployments[1:]
            _ecs_event(service, "has reached a steady state.")
            service._ecs_steady = True
        return
    service._ecs_steady = False
    for deployment in deployments:  # (b)
        failure = deployment["_failure"]
        for task in _ecs_tasks(deployment, "PENDING"):
            if failure:
                _ecs_stop_task(backend, task, failure["reason"], "TaskFailedToStart", failure["exit_code"], True)
                deployment["failedTasks"] += 1
            else:
                _ecs_run_task(task)
    breaker = config.get("deploymentCircuitBreaker") or {}
    if breaker.get("enable") and primary["failedTasks"] >= min(200, max(3, math.ceil(desired / 2))):  # (c)
        primary.update(rolloutState="FAILED", updatedAt=utcnow(),
                       rolloutStateReason="ECS deployment circuit breaker: tasks failed to start.")
        _ecs_event(service, f"(deployment {primary['id']}) deployment failed: tasks failed to start.")
        stable = getattr(service, "_ecs_last_completed", None)
        if breaker.get("rollback") and stable:
            service.task_definition = stable[1]
            _ecs_new_deployment(service, plan=False,
                                reason=f"ECS deployment circuit breaker: rolling back to deploymentId {stable[0]}.")
            _ecs_event(service, f"rolling back to deployment {stable[0]}.")
        return _ecs_sync(backend, service)
    maximum = max(desired, math.floor(desired * config["maximumPercent"] / 100))
    minimum = min(desired, math.ceil(desired * config["minimumHealthyPercent"] / 100))
    running = sum(len(_ecs_tasks(d, "RUNNING")) for d in deployments)
    surplus = _ecs_tasks(primary, "RUNNING")[desired:]  # (d)
    old = [t for d in reversed(deployments[1:]) for t in _ecs_tasks(d, "RUNNING")]
    stopping = surplus + old[:max(0, running - len(surplus) - minimum)]
    for task in stopping:
        _ecs_stop_task(backend, task, f"Scaling activity initiated by (deployment {primary['id']})",
                       "ServiceSchedulerInitiated", 0, False)
    if stopping:
        _ecs_event(service, f"has stopped {len(stopping)} running tasks: {_ecs_task_list(stopping)}.")
    active = sum(len(_ecs_tasks(d, "RUNNING")) + len(_ecs_tasks(d, "PENDING")) for d in deployments)
    wanted = desired - len(_ecs_tasks(primary, "RUNNING")) - len(_ecs_tasks(primary, "PENDING"))  # (e)
    count = min(wanted, maximum - active)
    if wanted > 0 and count <= 0 and not stopping and not any(_ecs_tasks(d, "PENDING") for d in deployments):
        count = 1
    started = [_ecs_start_task(backend, service, primary) for _ in range(max(0, count))]
    if started:
        _ecs_event(service, f"has started {len(started)} tasks: {_ecs_task_list(started)}.")
    _ecs_sync(backend, service)


def _ecs_tasks(deployment, status):
    return [t for t in deployment["_tasks"] if t._status == status]


def _ecs_task_list(tasks):
    return " ".join(f"(task {t.id})" for t in tasks)


def _ecs_event(service, message):
    """Service events: newest first, the 100 most recent ("Service event messages")."""
    service.events.insert(0, {"id": str(mock_random.uuid4()), "createdAt": utcnow(),
                              "message": f"(service {service.name}) {message}"})
    del service.events[100:]


def _ecs_new_deployment(service, plan=True, reason=None):
    """A new PRIMARY deployment for the service's task definition; the others become ACTIVE."""
    deployment_id = f"ecs-svc/{mock_random.randint(10 ** 18, 2 ** 63 - 1)}"
    now = utcnow()
    for deployment in service.deployments:
        deployment["status"] = "ACTIVE"
    key = (service._account_id, service.cluster_name, service.name)
    service.deployments.insert(0, {
        "id": deployment_id, "status": "PRIMARY", "taskDefinition": service.task_definition,
        "desiredCount": service.desired_count, "pendingCount": 0, "runningCount": 0, "failedTasks": 0,
        "createdAt": now, "updatedAt": now,
        # A service on a capacity provider strategy has no launch type (entry 27).
        **({"capacityProviderStrategy": service.capacity_provider_strategy}
           if getattr(service, "capacity_provider_strategy", None) else {"launchType": service.launch_type}),
        "platformVersion": service.platform_version, "networkConfiguration": service.network_configuration or None,
        "rolloutState": "IN_PROGRESS", "rolloutStateReason": reason or f"ECS deployment {deployment_id} in progress.",
        # not in the Deployment shape, so never serialized:
        "_tasks": [], "_failure": _ECS_FAILURE_PLANS.pop(key, None) if plan else None})
    service._ecs_steady = False


def _ecs_capacity_provider(service):
    """The provider a service's task runs on: its strategy's first (entry 27), else none."""
    strategy = getattr(service, "capacity_provider_strategy", None) or []
    return strategy[0].get("capacityProvider") if strategy else None


def _ecs_start_task(backend, service, deployment):
    """A PENDING task of the deployment: group service:NAME, startedBy the deployment id, in the
    least used of the service's subnets (spread across Availability Zones), on the least loaded
    ACTIVE container instance of the cluster if it has any."""
    cluster = backend._get_cluster(service.cluster_name)
    task_definition = backend.describe_task_definition(deployment["taskDefinition"])
    ec2 = ec2_backends[backend.account_id][cluster.region_name]
    network = service.network_configuration or None
    zone = None
    if network and task_definition.network_mode == "awsvpc":
        vpc_config = network["awsvpcConfiguration"]
        in_use = [x["value"] for d in service.deployments for t in _ecs_tasks(d, "RUNNING") + _ecs_tasks(d, "PENDING")
                  for a in t.attachments for x in a["details"] if x["name"] == "subnetId"]
        subnet_id = min(vpc_config["subnets"], key=in_use.count)
        network = {"awsvpcConfiguration": {**vpc_config, "subnets": [subnet_id]}}
        zone = ec2.get_subnet(subnet_id).availability_zone
    instances = [i for i in backend.container_instances.get(cluster.name, {}).values() if i.status == "ACTIVE"]
    instance = min(instances, default=None, key=lambda i: (
        zone is not None and i.attributes.get("ecs.availability-zone") != zone, i.running_tasks_count))
    requirements = backend._calculate_task_resource_requirements(task_definition)
    if task_definition.network_mode == "awsvpc":
        requirements["PORTS"] = []  # each task has its own network interface
    task = ecs_models.Task(cluster, task_definition, instance.container_instance_arn if instance else None,
                           requirements, backend=backend, group=f"service:{service.name}",
                           launch_type=service.launch_type or "EC2", started_by=deployment["id"],
                           capacity_provider_name=_ecs_capacity_provider(service),
                           networking_configuration=network)
    if instance:
        backend.update_container_instance_resources(instance, requirements)
    task._transitions = []  # the scheduler, not moto's state manager, moves service tasks
    task.status = "PENDING"
    task.stopped_reason = None
    task.created_at = utcnow()
    task.availability_zone = zone or (instance.attributes.get("ecs.availability-zone") if instance else None) \
        or f"{cluster.region_name}a"
    task.cpu, task.memory = task_definition.cpu, task_definition.memory
    task.enable_execute_command = bool(getattr(service, "enable_execute_command", False))
    task.health_status = "UNKNOWN"  # HEALTHY once RUNNING if a container has a health check
    task._ecs_checked = any("healthCheck" in c for c in task_definition.container_definitions)
    ip = next((d["value"] for a in task.attachments for d in a["details"] if d["name"] == "privateIPv4Address"), None)
    prefix = task.task_arn.split(":task/")[0]
    task.containers = [{
        "containerArn": f"{prefix}:container/{cluster.name}/{task.id}/{mock_random.uuid4()}",
        "taskArn": task.task_arn, "name": c.get("name"), "image": c.get("image"), "lastStatus": "PENDING",
        "networkInterfaces": [{"attachmentId": a["id"], "privateIpv4Address": ip} for a in task.attachments],
        "healthStatus": "UNKNOWN", "cpu": str(c.get("cpu", 0)),
        "memory": str(c["memory"]) if "memory" in c else None,
        "memoryReservation": str(c["memoryReservation"]) if "memoryReservation" in c else None,
        "_checked": "healthCheck" in c} for c in task_definition.container_definitions]
    backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
    deployment["_tasks"].append(task)
    return task


def _ecs_run_task(task):
    now = utcnow()
    task.status = "RUNNING"
    task.pull_started_at, task.pull_stopped_at, task.started_at = now, now, now
    task.connectivity, task.connectivity_at = "CONNECTED", now
    task.health_status = "HEALTHY" if task._ecs_checked else "UNKNOWN"
    for container in task.containers:
        container.update(lastStatus="RUNNING", runtimeId=f"{mock_random.getrandbits(256):064x}",
                         healthStatus="HEALTHY" if container["_checked"] else "UNKNOWN")


def _ecs_stop_task(backend, task, reason, stop_code, exit_code, failed):
    """Stop a service task: it keeps its attachment details (status DELETED) and frees its ENI."""
    if task.container_instance_arn:
        instance = backend.container_instances.get(task.cluster_name, {}).get(task.container_instance_arn.split("/")[-1])
        if instance:
            backend.update_container_instance_resources(instance, task.resource_requirements, removing=True)
    now = utcnow()
    task.status, task.desired_status = "STOPPED", "STOPPED"
    task.stopped_reason, task.stop_code = reason, stop_code
    task.stopping_at = task.execution_stopped_at = task.stopped_at = now
    for container in task.containers:
        container["lastStatus"] = "STOPPED"
        if exit_code is not None:
            container["exitCode"] = exit_code
        if failed:
            container["reason"] = reason
    ec2 = ec2_backends[backend.account_id][task.region_name]
    for attachment in task.attachments:
        attachment["status"] = "DELETED"
        for detail in attachment["details"]:
            if detail["name"] == "networkInterfaceId":
                ec2.delete_network_interface(detail["value"])


def _ecs_sync(backend, service):
    """Deployment, service and cluster counts from the tasks themselves."""
    for deployment in service.deployments:
        deployment["runningCount"] = len(_ecs_tasks(deployment, "RUNNING"))
        deployment["pendingCount"] = len(_ecs_tasks(deployment, "PENDING"))
    service.running_count = sum(d["runningCount"] for d in service.deployments)
    service.pending_count = sum(d["pendingCount"] for d in service.deployments)
    cluster = backend._get_cluster(service.cluster_name)
    tasks = list(backend.tasks.get(cluster.name, {}).values())
    cluster.running_tasks_count = sum(t._status == "RUNNING" for t in tasks)
    cluster.pending_tasks_count = sum(t._status == "PENDING" for t in tasks)


# awsvpc tasks (RunTask too) get an unused address of their subnet, not a random 10.x.y.z, and
# 32-hex-digit task ids, as in AWS (VPC user guide "Subnet CIDR blocks": the first four and the
# last address are reserved; ECS "Task" taskArn .../task/CLUSTER/ID).
_ecs_task_subnet = threading.local()
_orig_ecs_random_private_ip = ecs_models.random_private_ip


def _ecs_private_ip(cidr=None, ipv6=False):
    ec2, subnet = getattr(_ecs_task_subnet, "value", None) or (None, None)
    if subnet is None:
        return _orig_ecs_random_private_ip(cidr, ipv6)
    network = ipaddress.ip_network(subnet.cidr_block)
    used = {eni.private_ip_address for eni in ec2.enis.values()}
    candidates = (network.network_address + mock_random.randint(4, network.num_addresses - 2) for _ in range(100))
    return next((str(ip) for ip in candidates if str(ip) not in used), None) or next(
        str(ip) for ip in list(network.hosts())[3:] if str(ip) not in used)


ecs_models.random_private_ip = _ecs_private_ip
_orig_ecs_task_init = ecs_models.Task.__init__


def _ecs_task_init(self, cluster, task_definition, *args, **kwargs):
    backend = kwargs.get("backend") or args[2]
    subnets = ((kwargs.get("networking_configuration") or {}).get("awsvpcConfiguration") or {}).get("subnets") or []
    ec2 = ec2_backends[backend.account_id][cluster.region_name]
    try:
        _ecs_task_subnet.value = (ec2, ec2.get_subnet(subnets[0])) if subnets else None
    except Exception:  # noqa: BLE001 - moto's own Task raises the AWS error for a bad subnet
        _ecs_task_subnet.value = None
    try:
        _orig_ecs_task_init(self, cluster, task_definition, *args, **kwargs)
    finally:
        _ecs_task_subnet.value = None
    self.id = self.id.replace("-", "")


ecs_models.Task.__init__ = _ecs_task_init

_orig_ecs_create_service = ecs_models.EC2ContainerServiceBackend.create_service
_orig_ecs_update_service = ecs_models.EC2ContainerServiceBackend.update_service
_orig_ecs_describe_services = ecs_models.EC2ContainerServiceBackend.describe_services
_orig_ecs_delete_service = ecs_models.EC2ContainerServiceBackend.delete_service
_orig_ecs_list_tasks = ecs_models.EC2ContainerServiceBackend.list_tasks
_orig_ecs_create_service_response = EC2ContainerServiceResponse.create_service


def ecs_create_service(self, *args, **kwargs):
    service = _orig_ecs_create_service(self, *args, **kwargs)
    with _ECS_LOCK:
        service.created_at = utcnow()
        service.deployment_configuration = dict(_ECS_DEFAULT_DEPLOYMENT_CONFIGURATION)
        service._ecs_steady = False
        if service.deployment_controller.get("type") == "ECS" and service.task_definition:
            service.deployments = []
            _ecs_new_deployment(service)
        _ecs_sync(self, service)
    return service


def ecs_create_service_response(self):
    result = _orig_ecs_create_service_response(self)
    service = self.ecs_backend._get_service(self._get_param("cluster", "default"), self._get_param("serviceName"))
    for param in _ECS_KEPT_CREATE_PARAMS:
        if self._get_param(param) is not None:
            setattr(service, camelcase_to_underscores(param), self._get_param(param))
    service.deployment_configuration = {**_ECS_DEFAULT_DEPLOYMENT_CONFIGURATION, **service.deployment_configuration}
    return result


def ecs_update_service(self, service_properties):
    """A new task definition, network configuration or forceNewDeployment starts a new
    deployment; desiredCount alone changes the PRIMARY deployment's desired count
    (API reference: UpdateService).  deploymentConfiguration members not given are kept."""
    service = self._get_service(service_properties.get("cluster", "default"),
                                service_properties["service"].split("/")[-1])
    force = service_properties.pop("force_new_deployment", False)
    before = (service.task_definition, service.network_configuration, service.deployment_configuration)
    task_definition = service_properties.get("task_definition")
    _orig_ecs_update_service(self, service_properties)
    with _ECS_LOCK:
        if task_definition:
            service.task_definition = self.describe_task_definition(task_definition).arn
        service.deployment_configuration = {**(before[2] or {}), **(service.deployment_configuration or {})}
        if getattr(service, "_ecs_steady", None) is not None and service.deployment_controller.get("type") == "ECS":
            primary = service.deployments[0] if service.deployments else None
            if force or primary is None or (service.task_definition, service.network_configuration) != before[:2]:
                _ecs_new_deployment(service)
            elif primary["desiredCount"] != service.desired_count:
                primary.update(desiredCount=service.desired_count, updatedAt=utcnow())
                service._ecs_steady = False
            _ecs_sync(self, service)
    return service


def ecs_describe_services(self, cluster_str, service_names_or_arns):
    services, failures = _orig_ecs_describe_services(self, cluster_str, service_names_or_arns)
    with _ECS_LOCK:
        for service in services:
            if getattr(service, "_ecs_steady", None) is not None:
                _ecs_step(self, service)
    return services, failures


def ecs_delete_service(self, cluster_name, service_name, force):
    """DeleteService: the scheduler stops the service's tasks."""
    service = _orig_ecs_delete_service(self, cluster_name, service_name, force)
    with _ECS_LOCK:
        if service.deployments and getattr(service, "_ecs_steady", None) is not None:
            reason = f"Scaling activity initiated by (deployment {service.deployments[0]['id']})"
            for deployment in service.deployments:
                for task in _ecs_tasks(deployment, "RUNNING") + _ecs_tasks(deployment, "PENDING"):
                    _ecs_stop_task(self, task, reason, "ServiceSchedulerInitiated", 0, False)
            _ecs_sync(self, service)
    return service


def ecs_list_tasks(self, cluster_str=None, container_instance=None, family=None, started_by=None,
                   service_name=None, desiredStatus=None):
    """ListTasks (API reference): serviceName filters on the service's tasks, and without
    desiredStatus only tasks whose desired status is RUNNING are listed ("The default status
    filter is RUNNING")."""
    tasks = _orig_ecs_list_tasks(self, cluster_str, container_instance, family, started_by, None,
                                 desiredStatus or "RUNNING")
    if service_name:
        tasks = [t for t in tasks if t.group == f"service:{service_name.split('/')[-1]}"]
    return tasks


ecs_models.EC2ContainerServiceBackend.create_service = ecs_create_service
ecs_models.EC2ContainerServiceBackend.update_service = ecs_update_service
ecs_models.EC2ContainerServiceBackend.describe_services = ecs_describe_services
ecs_models.EC2ContainerServiceBackend.delete_service = ecs_delete_service
ecs_models.EC2ContainerServiceBackend.list_tasks = ecs_list_tasks
EC2ContainerServiceResponse.create_service = ecs_create_service_response


def _ecs_model_json(status, body):
    return status, {"Content-Type": "application/json"}, json.dumps(body)


def ecs_model_fail_deployments(request, full_url, headers):
    """POST /moto-api/ecs-model/fail-deployments {"account_id", "cluster", "service", "reason",
    "exit_code"}: the next new deployment of that service (CreateService, UpdateService; not a
    circuit-breaker rollback) fails: its tasks stop with stopCode TaskFailedToStart, stoppedReason
    and container reason = reason, container exitCode = exit_code (default 1; null omits it).
    account_id defaults to the x-moto-account-id header, then moto's default account; cluster to
    "default"; cluster and service may be names or ARNs; any region."""
    if request.method != "POST":
        return _ecs_model_json(405, {"error": "POST only"})
    try:
        body = json.loads(request.get_data() or b"{}")
        account = body.get("account_id") or request.headers.get("x-moto-account-id") or DEFAULT_ACCOUNT_ID
        key = (str(account), str(body.get("cluster") or "default").split("/")[-1], str(body["service"]).split("/")[-1])
        plan = {"reason": str(body["reason"]), "exit_code": body.get("exit_code", 1)}
    except (ValueError, KeyError, TypeError) as e:
        return _ecs_model_json(400, {"error": f"expected JSON with service and reason: {e}"})
    with _ECS_LOCK:
        _ECS_FAILURE_PLANS[key] = plan
    return _ecs_model_json(200, {"status": "ok", "account_id": key[0], "cluster": key[1], "service": key[2], **plan})


def ecs_model_reset(request, full_url, headers):
    """POST /moto-api/ecs-model/reset: forget the failure plans of one account (body
    {"account_id"} or the x-moto-account-id header), or of all accounts without either."""
    if request.method != "POST":
        return _ecs_model_json(405, {"error": "POST only"})
    try:
        account = json.loads(request.get_data() or b"{}").get("account_id") or request.headers.get("x-moto-account-id")
    except (ValueError, AttributeError) as e:
        return _ecs_model_json(400, {"error": f"expected a JSON object: {e}"})
    with _ECS_LOCK:
        keys = [k for k in _ECS_FAILURE_PLANS if account is None or k[0] == str(account)]
        for key in keys:
            del _ECS_FAILURE_PLANS[key]
    return _ecs_model_json(200, {"status": "ok", "account_id": account, "cleared": len(keys)})


moto_api_urls.url_paths["{0}/moto-api/ecs-model/fail-deployments"] = ecs_model_fail_deployments
moto_api_urls.url_paths["{0}/moto-api/ecs-model/reset"] = ecs_model_reset
_orig_moto_api_reset = moto_api_models.MotoAPIBackend.reset


def moto_api_reset(self):
    with _ECS_LOCK:
        _ECS_FAILURE_PLANS.clear()
    _orig_moto_api_reset(self)


moto_api_models.MotoAPIBackend.reset = moto_api_reset


# --- 9: CloudWatch over Smithy RPCv2 CBOR -------------------------------------------------------
import base64  # noqa: E402
import io  # noqa: E402
import struct  # noqa: E402
from datetime import datetime  # noqa: E402

import botocore.session  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: E402

_RPCV2_PATH = re.compile(r"^/service/(?P<service>[A-Za-z0-9_]+)/operation/(?P<operation>[A-Za-z0-9_]+)$")
_RPCV2_SERVICES = {"GraniteServiceVersion20100801": "cloudwatch"}  # targetPrefix -> botocore name
_CBOR_TAG_EPOCH = 1


class _CborTag:
    def __init__(self, tag, value):
        self.tag, self.value = tag, value


def _cbor_decode(data):
    """RFC 8949, the subset a Smithy client sends: every major type, definite and indefinite
    lengths, half/single/double floats; tags are kept as _CborTag."""
    stream = io.BytesIO(data)

    def read(n):
        chunk = stream.read(n)
        if len(chunk) != n:
            raise ValueError("truncated CBOR")
        return chunk

    def argument(info):
        if info < 24:
            return info
        if info in (24, 25, 26, 27):
            return int.from_bytes(read(1 << (info - 24)), "big")
        if info == 31:
            return None  # indefinite length
        raise ValueError(f"bad CBOR additional information {info}")

    def item():
        first = read(1)[0]
        major, info = first >> 5, first & 31
        if major == 7:
            if info == 20:
                return False
            if info == 21:
                return True
            if info in (22, 23):
                return None
            if info == 25:
                return struct.unpack(">e", read(2))[0]
            if info == 26:
                return struct.unpack(">f", read(4))[0]
            if info == 27:
                return struct.unpack(">d", read(8))[0]
            if info == 31:
                return _BREAK
            raise ValueError(f"unsupported CBOR simple value {info}")
        n = argument(info)
        if major == 0:
            return n
        if major == 1:
            return -1 - n
        if major in (2, 3):
            if n is None:
                chunks = []
                while (chunk := item()) is not _BREAK:
                    chunks.append(chunk)
                raw = (b"" if major == 2 else "").join(chunks)
                return raw
            raw = read(n)
            return raw if major == 2 else raw.decode("utf-8")
        if major == 4:
            if n is None:
                out = []
                while (value := item()) is not _BREAK:
                    out.append(value)
                return out
            return [item() for _ in range(n)]
        if major == 5:
            out = {}
            while n is None or len(out) < n:
                key = item()
                if key is _BREAK:
                    break
                out[key] = item()
            return out
        return _CborTag(n, item())  # major 6

    value = item()
    if stream.read(1):
        raise ValueError("trailing bytes after the CBOR item")
    return value


_BREAK = object()


def _cbor_encode(value):
    out = bytearray()

    def head(major, n):
        if n < 24:
            out.append(major << 5 | n)
        elif n < 1 << 8:
            out.extend([major << 5 | 24, n])
        elif n < 1 << 16:
            out.append(major << 5 | 25)
            out.extend(n.to_bytes(2, "big"))
        elif n < 1 << 32:
            out.append(major << 5 | 26)
            out.extend(n.to_bytes(4, "big"))
        else:
            out.append(major << 5 | 27)
            out.extend(n.to_bytes(8, "big"))

    def item(v):
        if v is None:
            out.append(0xF6)
        elif v is True:
            out.append(0xF5)
        elif v is False:
            out.append(0xF4)
        elif isinstance(v, _CborTag):
            head(6, v.tag)
            item(v.value)
        elif isinstance(v, int):
            head(0, v) if v >= 0 else head(1, -1 - v)
        elif isinstance(v, float):
            out.append(0xFB)
            out.extend(struct.pack(">d", v))
        elif isinstance(v, bytes):
            head(2, len(v))
            out.extend(v)
        elif isinstance(v, str):
            raw = v.encode("utf-8")
            head(3, len(raw))
            out.extend(raw)
        elif isinstance(v, list):
            head(4, len(v))
            for x in v:
                item(x)
        elif isinstance(v, dict):
            head(5, len(v))
            for k, x in v.items():
                item(k)
                item(x)
        else:
            raise TypeError(f"cannot encode {type(v).__name__} as CBOR")

    item(value)
    return bytes(out)


def _epoch(value):
    if isinstance(value, _CborTag):
        value = value.value
    if isinstance(value, str):  # the json protocol's answer may carry ISO 8601
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return float(value)


def _cbor_to_json(shape, value):
    """A decoded CBOR request value -> the json protocol's value of the same shape."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        return {k: _cbor_to_json(shape.members.get(k), v) for k, v in value.items()}
    if kind == "list":
        return [_cbor_to_json(shape.member, v) for v in value]
    if kind == "map":
        return {k: _cbor_to_json(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        return _epoch(value)
    if kind == "blob":
        return base64.b64encode(value).decode()
    return value.value if isinstance(value, _CborTag) else value


def _json_to_cbor(shape, value):
    """The json protocol's answer -> the CBOR value of the same shape."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        return {k: _json_to_cbor(shape.members.get(k), v) for k, v in value.items()}
    if kind == "list":
        return [_json_to_cbor(shape.member, v) for v in value]
    if kind == "map":
        return {k: _json_to_cbor(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        return _CborTag(_CBOR_TAG_EPOCH, _epoch(value))
    if kind == "blob":
        return base64.b64decode(value)
    if kind in ("double", "float"):
        return float(value)
    if kind in ("integer", "long", "short", "byte"):
        return int(value)
    return value


_BOTOCORE = botocore.session.get_session()
_dispatch = DomainDispatcherApplication.__call__


def _rpcv2_call(self, environ, start_response):
    match = _RPCV2_PATH.match(environ.get("PATH_INFO", ""))
    if (
        not match
        or environ.get("REQUEST_METHOD") != "POST"
        or environ.get("HTTP_SMITHY_PROTOCOL", "").lower() != "rpc-v2-cbor"
        or match["service"] not in _RPCV2_SERVICES
    ):
        return _dispatch(self, environ, start_response)
    model = _BOTOCORE.get_service_model(_RPCV2_SERVICES[match["service"]])
    operation = model.operation_model(match["operation"])
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    request = _cbor_to_json(operation.input_shape, _cbor_decode(body)) if body else {}
    payload = json.dumps(request or {}).encode()
    json_environ = dict(environ)
    json_environ.update({
        "PATH_INFO": "/",
        "CONTENT_TYPE": "application/x-amz-json-1.0",
        "CONTENT_LENGTH": str(len(payload)),
        "HTTP_X_AMZ_TARGET": f"{match['service']}.{match['operation']}",
        "wsgi.input": io.BytesIO(payload),
    })
    json_environ.pop("HTTP_SMITHY_PROTOCOL", None)
    answer = {}

    def capture(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, headers
        return lambda chunk: None

    chunks = _dispatch(self, json_environ, capture)
    try:
        text = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    decoded = json.loads(text) if text.strip() else {}
    if answer["status"].startswith("2"):
        encoded = _cbor_encode(_json_to_cbor(operation.output_shape, decoded))
    else:  # an error: "__type" and "message" as the json protocol gave them
        kind = str(decoded.get("__type", "InternalFailure")).split("#")[-1]
        encoded = _cbor_encode({"__type": kind, "message": decoded.get("message") or decoded.get("Message", "")})
    headers = [(k, v) for k, v in answer["headers"] if k.lower() not in ("content-type", "content-length")]
    headers += [("Content-Type", "application/cbor"), ("Content-Length", str(len(encoded))),
                ("smithy-protocol", "rpc-v2-cbor")]
    start_response(answer["status"], headers)
    return [encoded]


DomainDispatcherApplication.__call__ = _rpcv2_call


# --- 10: ECS task size: task-level cpu and memory ----------------------------------------------
def _ecs_size(value, unit):
    """A task-level size in CPU units or MiB ("Task size": cpu "1024" or "1 vCPU", memory
    "2048" or "2 GB"; ECS converts the unit form to the integer when registering)."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip().lower().replace(" ", "")
    if text.endswith(unit):
        return int(float(text[:-len(unit)]) * 1024)
    return int(float(text))


def _ecs_container_value(container, key):
    """A container definition's value: the API's camelCase key or CloudFormation's PascalCase."""
    return container.get(key, container.get(key[0].upper() + key[1:]))


def ecs_task_resource_requirements(task_definition):
    """What a task reserves on its container instance.  Task definition parameters, "Task size":
    for the EC2 launch type task-level cpu and memory are optional and, when set, are what the
    task reserves; ContainerDefinition memory / memoryReservation: with a task-level memory a
    container needs neither, and memoryReservation (else memory) is what a container reserves."""
    containers = task_definition.container_definitions
    cpu = _ecs_size(task_definition.cpu, "vcpu")
    memory = _ecs_size(task_definition.memory, "gb")
    if cpu is None:
        cpu = sum(int(_ecs_container_value(c, "cpu") or 0) for c in containers)
    if memory is None:
        memory = sum(int(_ecs_container_value(c, "memoryReservation") or _ecs_container_value(c, "memory") or 0)
                     for c in containers)
    ports = [_ecs_container_value(m, "hostPort") for c in containers
             for m in _ecs_container_value(c, "portMappings") or [] if _ecs_container_value(m, "hostPort")]
    return {"CPU": cpu, "MEMORY": memory, "PORTS": ports, "PORTS_UDP": []}


ecs_models.EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(
    ecs_task_resource_requirements)
_orig_ecs_register_task_definition = ecs_models.EC2ContainerServiceBackend.register_task_definition


def ecs_register_task_definition(self, *args, **kwargs):
    """RegisterTaskDefinition stores "1 vCPU" as "1024" and "0.5 GB" as "512" ("Task size")."""
    for key, unit in (("cpu", "vcpu"), ("memory", "gb")):
        try:
            size = _ecs_size(kwargs.get(key), unit)
        except ValueError:
            continue  # not a size: moto's (and AWS's) validation says so
        if size is not None:
            kwargs[key] = str(size)
    return _orig_ecs_register_task_definition(self, *args, **kwargs)


ecs_models.EC2ContainerServiceBackend.register_task_definition = ecs_register_task_definition


# --- 11: a failure inside a model is an AWS error, not a web page ------------------------------
import traceback  # noqa: E402
import uuid  # noqa: E402
from xml.sax.saxutils import escape as _xml_escape  # noqa: E402

from moto.core.utils import convert_to_flask_response  # noqa: E402
from werkzeug.exceptions import HTTPException  # noqa: E402

# The server error each JSON service documents for every operation (API references, "Errors");
# any other service answers the common error InternalFailure ("Common Errors": HTTP 500).
_JSON_SERVER_ERRORS = {
    "AmazonEC2ContainerServiceV20141113": "ServerException",  # ECS
    "AmazonSSM": "InternalServerError",  # Systems Manager
    "Logs_20140328": "ServiceUnavailableException",  # CloudWatch Logs
}


def _internal_failure(request, error):
    """(status, headers, body) of HTTP 500 in the protocol of the request: JSON {"__type",
    "message"} for the JSON protocols (X-Amz-Target or a JSON body), the query protocol's
    <ErrorResponse> (EC2's <Response><Errors>, code InternalError), else REST-XML's <Error>."""
    message = f"the local cloud failed serving this request: {type(error).__name__}: {error}"
    request_id = str(uuid.uuid4())
    target = request.headers.get("X-Amz-Target", "")
    content_type = request.headers.get("Content-Type", "")
    if target or "json" in content_type:
        code = _JSON_SERVER_ERRORS.get(target.split(".")[0], "InternalFailure")
        headers = {"Content-Type": content_type if "json" in content_type else "application/x-amz-json-1.1",
                   "x-amzn-ErrorType": code, "x-amzn-RequestId": request_id}
        return 500, headers, json.dumps({"__type": code, "message": message})
    text = _xml_escape(message)
    if "x-www-form-urlencoded" in content_type or "Action" in request.args:
        if "/ec2/aws4_request" in request.headers.get("Authorization", ""):
            body = (f"<Response><Errors><Error><Code>InternalError</Code><Message>{text}</Message></Error>"
                    f"</Errors><RequestID>{request_id}</RequestID></Response>")
        else:
            body = (f"<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code>"
                    f"<Message>{text}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    else:
        body = f"<Error><Code>InternalError</Code><Message>{text}</Message><RequestId>{request_id}</RequestId></Error>"
    return 500, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body


_orig_flask_response_call = convert_to_flask_response.__call__


def flask_response_call(self, args=None, **kwargs):
    """Every AWS request moto serves passes here; moto's own errors (werkzeug HTTPExceptions such
    as RESTError) already carry AWS's shape, anything else would become werkzeug's HTML page."""
    try:
        return _orig_flask_response_call(self, args, **kwargs)
    except HTTPException:
        raise
    except Exception as error:  # noqa: BLE001 - a model failure, answered as AWS's server error
        from flask import Response, request
        traceback.print_exc()  # the cause stays in the server log
        status, headers, body = _internal_failure(request, error)
        return Response(response=body, status=status, headers=headers)


convert_to_flask_response.__call__ = flask_response_call


# --- 12: FilterLogEvents reads the streams asked for -------------------------------------------
from moto.logs.exceptions import InvalidParameterException as LogsInvalidParameter  # noqa: E402
from moto.logs.exceptions import ResourceNotFoundException as LogsResourceNotFound  # noqa: E402
from moto.logs.responses import LogsResponse  # noqa: E402


def _logs_stream_names(backend, group_name, names, prefix):
    """The streams FilterLogEvents reads: logStreamNames, or those whose name starts with
    logStreamNamePrefix, or every stream (None); both given is InvalidParameterException."""
    if names and prefix:
        raise LogsInvalidParameter("logStreamNames and logStreamNamePrefix cannot both be specified.")
    if not prefix:
        return names or None
    group = backend.groups.get(group_name)
    if group is None:
        raise LogsResourceNotFound()
    return [name for name in group.streams if name.startswith(prefix)]


def logs_filter_log_events_response(self):
    group_name = self._get_param("logGroupName")
    streams = _logs_stream_names(self.logs_backend, group_name, self._get_param("logStreamNames"),
                                 self._get_param("logStreamNamePrefix"))
    if streams == []:  # no stream matches the prefix (moto would read every stream for [])
        return json.dumps({"events": [], "searchedLogStreams": []})
    events, next_token, searched = self.logs_backend.filter_log_events(
        group_name, streams, self._get_param("startTime"), self._get_param("endTime"),
        self._get_param("limit"), self._get_param("nextToken"), self._get_param("filterPattern"),
        self._get_param("interleaved", False))
    return json.dumps({"events": events, "nextToken": next_token, "searchedLogStreams": searched})


LogsResponse.filter_log_events = logs_filter_log_events_response


# --- 13: Conditions in change sets and updates ------------------------------------------------
def _condition_text(value):
    """A value as Fn::Equals compares it: CloudFormation's parameter values are strings (a Number
    parameter's Ref too), booleans its "true" / "false"."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(_condition_text(v) for v in value)
    return str(value)


def _condition_values(template, values, pseudo):
    """Every condition of template -> True / False, given its parameter values (user guide
    "Conditions syntax", "Condition functions": Fn::Equals, Fn::Not, Fn::And, Fn::Or and
    {"Condition": name})."""
    conditions = template.get("Conditions") or {}
    known = {**pseudo, **(template.get("Mappings") or {}), **values}
    results = {}

    def holds(name):
        if name not in conditions:
            raise ValidationError(message=f"Template format error: Unresolved condition dependency {name}")
        if name not in results:
            results[name] = evaluate(conditions[name])
        return results[name]

    def evaluate(node):
        if isinstance(node, bool) or not isinstance(node, dict) or len(node) != 1:
            return _condition_text(node) == "true"
        (function, args), = node.items()
        if function == "Condition":
            return holds(args)
        if function == "Fn::Equals":
            try:
                left, right = (_condition_text(cfn_parsing.clean_json(arg, known)) for arg in args)
            except KeyError as e:
                raise ValidationError(message=f"Template format error: Unresolved dependencies [{e.args[0]}] "
                                              "in the Conditions block of the template") from e
            return left == right
        if function == "Fn::Not":
            return not evaluate(args[0])
        if function == "Fn::And":
            return all(evaluate(arg) for arg in args)
        if function == "Fn::Or":
            return any(evaluate(arg) for arg in args)
        raise ValidationError(message=f"Template format error: {function} is not a condition function")

    return {name: holds(name) for name in conditions}


def _created_resources(template, values, pseudo):
    """The resources a stack has with these parameter values: those without a Condition or whose
    Condition is true ("Conditions": a false condition's resource is not created); the conditions."""
    holds = _condition_values(template, values, pseudo)
    resources = template.get("Resources") or {}
    created = {name: r for name, r in resources.items() if "Condition" not in r or holds.get(r["Condition"], True)}
    return created, holds


def _if_conditions(node):
    """Condition names a resource uses through Fn::If."""
    if isinstance(node, dict):
        found = {node["Fn::If"][0]} if isinstance(node.get("Fn::If"), list) and node["Fn::If"] else set()
        return found.union(*(_if_conditions(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_if_conditions(v) for v in node))
    return set()


def resource_map_build_resource_diff(self, other_template, parameters=None):
    """Add / Modify / Remove between what the stack has and what template and parameters make:
    a resource whose condition turns false is removed, one whose condition turns true is added,
    and one that uses a changed parameter (Ref, Fn::Sub) or a changed condition (Fn::If) is
    modified (CloudFormation API reference: DescribeChangeSet, "Change"/"ResourceChange")."""
    pseudo = {k: v for k, v in self._parsed_resources.items() if k.startswith("AWS::")}
    old_template = self._template or {}
    old_values = _parameter_values(old_template, self.input_parameters or {})
    new_values = _parameter_values(other_template, parameters or self.input_parameters or {})
    old, old_holds = _created_resources(old_template, old_values, pseudo)
    new, new_holds = _created_resources(other_template, new_values, pseudo)
    changed = {k for k in old_values.keys() | new_values.keys() if old_values.get(k) != new_values.get(k)}
    flipped = {k for k in old_holds.keys() | new_holds.keys() if old_holds.get(k) != new_holds.get(k)}
    return {
        "Add": [name for name in new if name not in old],
        "Modify": [name for name in new if name in old and (
            new[name] != old[name] or _references(new[name], changed) or _if_conditions(new[name]) & flipped)],
        "Remove": [] if getattr(self, "_cleanup_later", False) else [name for name in old if name not in new],
    }


cfn_parsing.ResourceMap.build_resource_diff = resource_map_build_resource_diff
_orig_resource_map_update = cfn_parsing.ResourceMap.update


def resource_map_update(self, template, parameters=None):
    """An update in CloudFormation's order (user guide "Update behaviors of stack resources";
    stack status UPDATE_COMPLETE_CLEANUP_IN_PROGRESS): new and changed resources first, then the
    removed ones are deleted, dependents first.  A resource that cannot be deleted then is left
    with a DELETE_FAILED event, and the update still completes.  A removed resource is forgotten,
    so that it is created again if its condition turns true later."""
    old_resources = dict(self._resource_json_map)
    diff = self.build_resource_diff(template, parameters)
    removed = set(diff["Remove"])
    before = _resource_map_state(self)  # what a rollback restores (16)
    self._cleanup_later = True
    try:
        _orig_resource_map_update(self, template, parameters)
    finally:
        self._cleanup_later = False
    _keep_imported_exports(self, before, diff)  # before the cleanup, as CloudFormation does (16)
    for logical_id in reversed(_creation_order(old_resources)):
        resource = self._parsed_resources.pop(logical_id, None) if logical_id in removed else None
        if resource is None or isinstance(resource, str):
            continue
        try:
            self._delete_resource(resource, old_resources[logical_id])
        except Exception as e:  # noqa: BLE001 - the resource's DELETE_FAILED reason
            stack = cfn_models.cloudformation_backends[self._account_id][self._region_name].stacks.get(self.stack_id)
            if stack is not None:
                stack.events.append(cfn_models.Event(
                    stack.stack_id, stack.name, logical_id, getattr(resource, "physical_resource_id", None),
                    old_resources[logical_id]["Type"], "DELETE_FAILED", str(e), None))


cfn_parsing.ResourceMap.update = resource_map_update
_orig_delete_resource = cfn_parsing.ResourceMap._delete_resource


def resource_map_delete_resource(self, resource, resource_json):
    """An update deletes as DeleteStack does (section 6's deleters for the types moto cannot delete)."""
    deleter = _DELETERS.get(resource_json["Type"])
    if deleter:
        deleter(resource, self._account_id, self._region_name)
    else:
        _orig_delete_resource(self, resource, resource_json)


cfn_parsing.ResourceMap._delete_resource = resource_map_delete_resource


def stack_resources(self):
    """DescribeStackResources / ListStackResources list the resources the stack has, not the
    template's resources whose condition is false (or that were deleted)."""
    return [r for r in self.resource_map.values() if r is not None and not isinstance(r, str)]


cfn_models.Stack.stack_resources = property(stack_resources)


# --- 14: RDS master users on the local cloud's one PostgreSQL ---------------------------------
import hashlib  # noqa: E402
import hmac  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

from moto.ssm.models import ssm_backends  # noqa: E402

# Written by scripts/local-cloud up: where PostgreSQL listens, its CA, superuser and password file.
# scripts/local-cloud names it in STACKUP_LOCAL_CLOUD_STATE (another checkout's local cloud may
# run these same scripts).
_LOCAL_CLOUD_STATE = Path(os.environ.get("STACKUP_LOCAL_CLOUD_STATE")
                          or Path(__file__).resolve().parent.parent / ".local-cloud" / "state.json")
_RDS_LOCK = threading.Lock()  # one role change at a time (the server is threaded)


def _local_postgres():
    """The "postgres" section of the local cloud's state.json, or None (no local cloud)."""
    try:
        return json.loads(_LOCAL_CLOUD_STATE.read_text())["postgres"]
    except (OSError, ValueError, KeyError):
        return None


def _scram_verifier(password):
    """PostgreSQL's SCRAM-SHA-256 verifier of password (RFC 5802/7677), so that no password is
    ever in SQL text (which the server may log)."""
    salt, iterations = os.urandom(16), 4096
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}"


def _psql(pg, sql):
    """Run sql on the local PostgreSQL as its superuser, over TLS checked against its CA."""
    psql = Path(pg.get("bin_dir") or "/nonexistent") / "psql"
    env = {**os.environ, "PGPASSWORD": Path(pg["master_password_file"]).read_text().strip(),
           "PGSSLMODE": "verify-full", "PGSSLROOTCERT": pg["ca_file"], "PGCONNECT_TIMEOUT": "5"}
    done = subprocess.run(
        [str(psql) if psql.exists() else "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
         f"host={pg['host']} port={pg['port']} user={pg['master_user']} dbname=postgres"],
        input=sql, text=True, capture_output=True, env=env, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"PostgreSQL {pg['host']}:{pg['port']}: {done.stderr.strip()}")


def _ensure_master_role(pg, user, password):
    """Role user exists and logs in with password, with RDS's master user privileges
    (RDS user guide "Master user account privileges": LOGIN, CREATEDB, CREATEROLE; not a superuser)."""
    literal, identifier = user.replace("'", "''"), user.replace('"', '""')
    _psql(pg, f"""DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{literal}') THEN CREATE ROLE "{identifier}"; END IF;
END $$;
ALTER ROLE "{identifier}" LOGIN CREATEDB CREATEROLE PASSWORD '{_scram_verifier(password)}';
""")


def _master_password_on_server(pg, user, given):
    """The password the server has for master user `user`, making the role if needed: the
    superuser's is scripts/local-cloud's (its password file); any other role keeps the first
    password the launcher gave it (remembered in master-users.json beside that file, 0600)."""
    if user == pg["master_user"]:
        return Path(pg["master_password_file"]).read_text().strip()
    remembered_file = Path(pg["master_password_file"]).with_name("master-users.json")
    try:
        remembered = json.loads(remembered_file.read_text())
    except (OSError, ValueError):
        remembered = {}
    password = remembered.get(user, given)
    _ensure_master_role(pg, user, password)
    if remembered.get(user) != password:
        remembered[user] = password
        partial = remembered_file.with_name(remembered_file.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(remembered, f)
        os.replace(partial, remembered_file)
    return password


def _stackup_stack_id(stack):
    """The stack id stackup names a stack's SSM parameters with (/stackup/<id>/): from its
    CloudFormation stack's tags stackup:app, stackup:environment, stackup:version."""
    tags = stack.tags or {}
    if all(f"stackup:{key}" in tags for key in ("app", "environment", "version")):
        return f"{tags['stackup:app']}-{tags['stackup:environment']}-v{tags['stackup:version']}"
    return (stack.parameters or {}).get("StackId")


def _use_server_password(stack, instance, properties, given, password):
    """The instance's master password is the server's: the instance, the stack parameter its
    MasterUserPassword refers to, and the stack's SSM parameter holding `given` say so."""
    instance.master_user_password = password
    reference = properties.get("MasterUserPassword")
    if isinstance(reference, dict) and list(reference) == ["Ref"]:
        name, resource_map = reference["Ref"], stack.resource_map
        stack.parameters = {**(stack.parameters or {}), name: password}
        resource_map.input_parameters = {**(resource_map.input_parameters or {}), name: password}
        for values in (resource_map.resolved_parameters, resource_map._parsed_resources):
            if name in values:
                values[name] = password
    stack_id = _stackup_stack_id(stack)
    versions = ssm_backends[stack.account_id][stack.region_name]._parameters.get(
        f"/stackup/{stack_id}/database/master-password") if stack_id else None
    if versions:
        current = versions[-1]
        if current.decrypt(current.value) == given:
            current.value = current.encrypt(password) if current.parameter_type == "SecureString" else password
            current.last_modified_date = utcnow()
            current.description = ("the local cloud's PostgreSQL password of this stack's master user, "
                                   "which other stacks share (scripts/moto_server.py, fix 14)")


def _rds_master_users(stack):
    """For each DBInstance the stack has: its MasterUsername is a role of the local PostgreSQL
    and its master password is the one that role has there."""
    pg = _local_postgres()
    if pg is None or stack.status.endswith("_FAILED"):
        return
    resource_map = stack.resource_map
    for logical_id, resource_json in list(resource_map._resource_json_map.items()):
        instance = resource_map._parsed_resources.get(logical_id)
        if resource_json.get("Type") != "AWS::RDS::DBInstance" or not isinstance(instance, rds_models.DBInstance):
            continue
        properties = resource_json.get("Properties") or {}
        user = cfn_parsing.clean_json(properties.get("MasterUsername"), resource_map)
        given = cfn_parsing.clean_json(properties.get("MasterUserPassword"), resource_map)
        if not user or not given:
            continue
        with _RDS_LOCK:
            password = _master_password_on_server(pg, str(user), str(given))
        if password != str(given):
            _use_server_password(stack, instance, properties, str(given), password)


_orig_master_execute = cfn_models.CloudFormationBackend.execute_change_set
_orig_master_create_stack = cfn_models.CloudFormationBackend.create_stack
_orig_master_update_stack = cfn_models.CloudFormationBackend.update_stack


def master_execute_change_set(self, change_set_name, stack_name=None):
    change_set = _find_change_set(self, change_set_name)
    _orig_master_execute(self, change_set_name, stack_name)
    if change_set is not None:
        _rds_master_users(change_set.stack)


def master_create_stack(self, *args, **kwargs):
    stack = _orig_master_create_stack(self, *args, **kwargs)
    _rds_master_users(stack)
    return stack


def master_update_stack(self, *args, **kwargs):
    stack = _orig_master_update_stack(self, *args, **kwargs)
    _rds_master_users(stack)
    return stack


cfn_models.CloudFormationBackend.execute_change_set = master_execute_change_set
cfn_models.CloudFormationBackend.create_stack = master_create_stack
cfn_models.CloudFormationBackend.update_stack = master_update_stack


# --- 15: RDS storage autoscaling from a template ---------------------------------------------
_orig_db_instance_from_template = rds_models.DBInstance.create_from_cloudformation_json.__func__


def db_instance_from_template(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    """A DBInstance made by CloudFormation keeps MaxAllocatedStorage, as on AWS (section 15)."""
    instance = _orig_db_instance_from_template(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    )
    ceiling = cloudformation_json.get("Properties", {}).get("MaxAllocatedStorage")
    # moto resolves the template's Fn::If before this; "0" is what a stack without
    # autoscaling passes should a condition on it not hold here.
    if ceiling not in (None, "", 0, "0"):
        # A Ref to a Number parameter arrives as a string (see 3); RDS compares numbers.
        instance.allocated_storage = int(instance.allocated_storage)
        if int(ceiling) <= instance.allocated_storage:
            raise rds_models.InvalidParameterCombination(
                "Max storage size must be greater than storage size"
            )
        instance._max_allocated_storage = int(ceiling)
    return instance


rds_models.DBInstance.create_from_cloudformation_json = classmethod(db_instance_from_template)


# --- 16: an export another stack imports keeps its value; else the update rolls back ----------
class _ExportInUse(Exception):
    """An update would change or remove an export another stack imports: it was rolled back."""


def _resource_map_state(resource_map):
    """What a rollback puts back: template, parameters, conditions and resource objects
    (moto's update reassigns the others and changes these two dicts in place)."""
    state = {key: getattr(resource_map, key) for key in (
        "_template", "_resource_json_map", "input_parameters", "lazy_condition_map", "no_echo_parameter_keys")
        if hasattr(resource_map, key)}
    state["resolved_parameters"] = dict(resource_map.resolved_parameters)
    state["_parsed_resources"] = dict(resource_map._parsed_resources)
    return state


def _export_in_use_reason(backend, stack_id, new_exports):
    """The reason an update may not publish new_exports: a published export of the stack that
    another stack imports changes value or goes (first such export, in publishing order)."""
    new_values = {export.name: export.value for export in new_exports}
    for export in [e for e in backend.exports.values() if e.exporting_stack_id == stack_id]:
        if export.name in new_values and new_values[export.name] == export.value:
            continue
        users = _importers(backend, export.name, except_stack_id=stack_id)
        if users and export.name in new_values:
            return f"Update canceled. Cannot update export {export.name} as it is in use by {_stack_names(users)}."
        if users:
            return f"Delete canceled. Cannot delete export {export.name} as it is in use by {_stack_names(users)}."
    return None


def _keep_imported_exports(resource_map, before, diff):
    """Between an update's resource changes and its cleanup (13): if the new outputs would change
    an export in use, roll the update back and raise _ExportInUse (the stack is UPDATE_ROLLBACK_COMPLETE)."""
    backend = cfn_models.cloudformation_backends[resource_map._account_id][resource_map._region_name]
    stack = backend.stacks.get(resource_map.stack_id)
    if stack is None or not any(e.exporting_stack_id == stack.stack_id for e in backend.exports.values()):
        return
    new_exports = cfn_parsing.OutputMap(resource_map, resource_map._template, stack.stack_id).exports
    reason = _export_in_use_reason(backend, stack.stack_id, new_exports)
    if reason is None:
        return
    stack.status, stack.status_reason = "UPDATE_ROLLBACK_IN_PROGRESS", reason
    stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
    _roll_back_resources(resource_map, stack, before, diff)
    stack.status = "UPDATE_ROLLBACK_COMPLETE"
    stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
    raise _ExportInUse(reason)


def _roll_back_resources(resource_map, stack, before, diff):
    """The changed resources get their previous properties back (moto's update with the previous
    template); then, in UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS, the resources the update
    created are deleted, dependents first (one that cannot be is left with a DELETE_FAILED event,
    as in 13).  The resources the update would have removed were never deleted."""
    after, new_resources = dict(resource_map._parsed_resources), dict(resource_map._resource_json_map)
    resource_map.__dict__.update(before)
    for logical_id in diff["Modify"]:
        current = after.get(logical_id)
        if current is None or isinstance(current, str):
            continue
        resource_map._parsed_resources[logical_id] = current
        restored = cfn_parsing.parse_and_update_resource(
            logical_id, resource_map._resource_json_map[logical_id], resource_map,
            resource_map._account_id, resource_map._region_name)
        resource_map._parsed_resources[logical_id] = restored or current
    stack.status = "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"
    stack._add_stack_event(stack.status)
    for logical_id in reversed(_creation_order(new_resources)):
        created = after.get(logical_id) if logical_id in diff["Add"] else None
        if created is None or isinstance(created, str):
            continue
        try:
            resource_map._delete_resource(created, new_resources[logical_id])
        except Exception as e:  # noqa: BLE001 - the resource's DELETE_FAILED reason
            stack.events.append(cfn_models.Event(
                stack.stack_id, stack.name, logical_id, getattr(created, "physical_resource_id", None),
                new_resources[logical_id]["Type"], "DELETE_FAILED", str(e), None))


def _stack_before_update(stack):
    """The stack's own record of its template (UpdateStack sets it before the resources change)."""
    return {key: getattr(stack, key) for key in ("template", "template_dict", "description", "output_map")}


_orig_export_execute = cfn_models.CloudFormationBackend.execute_change_set
_orig_export_update_stack = cfn_models.CloudFormationBackend.update_stack


def export_execute_change_set(self, change_set_name, stack_name=None):
    change_set = _find_change_set(self, change_set_name)
    before = _stack_before_update(change_set.stack) if change_set is not None else None
    try:
        _orig_export_execute(self, change_set_name, stack_name)
    except _ExportInUse:
        change_set.stack.__dict__.update(before)
        change_set.execution_status = "EXECUTE_FAILED"


def export_update_stack(self, name, *args, **kwargs):
    stack = self.get_stack(name)
    before = _stack_before_update(stack)
    try:
        stack = _orig_export_update_stack(self, name, *args, **kwargs)
    except _ExportInUse:
        stack.__dict__.update(before)
        return stack
    stack.status_reason = None
    _publish_exports(self, stack)
    return stack


cfn_models.CloudFormationBackend.execute_change_set = export_execute_change_set
cfn_models.CloudFormationBackend.update_stack = export_update_stack


# --- 17: ECR's login token valid at the local cloud's registry --------------------------------
from datetime import timedelta, timezone  # noqa: E402

from moto.ecr import models as ecr_models  # noqa: E402
from moto.ecr.responses import ECRResponse  # noqa: E402


def _local_registry():
    """(address, user, password) of the local cloud's registry, or None when it does not run."""
    try:
        registry = json.loads(_LOCAL_CLOUD_STATE.read_text())["registry"]
        password = Path(registry["password_file"]).read_text().strip()
    except (OSError, ValueError, KeyError):
        return None
    if not password:
        return None
    return registry["address"], registry["user"], password


def _ecr_repository_uri(self):
    """Read when answered, so repositories made before the registry started name it too."""
    registry = _local_registry()
    return f"{registry[0]}/{self.name}" if registry is not None else self._moto_uri


def _ecr_set_repository_uri(self, value):
    self._moto_uri = value


def ecr_get_authorization_token(self):
    registry = _local_registry()
    if registry is None:
        return _orig_ecr_get_authorization_token(self)
    address, user, password = registry
    registry_ids = self._get_param("registryIds") or [self.current_account]
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    expires_at = datetime.now(timezone.utc) + timedelta(hours=12)
    return ActionResult({"authorizationData": [
        {"authorizationToken": token, "expiresAt": expires_at, "proxyEndpoint": f"http://{address}"}
        for _ in registry_ids
    ]})


_orig_ecr_get_authorization_token = ECRResponse.get_authorization_token
ecr_models.Repository.uri = property(_ecr_repository_uri, _ecr_set_repository_uri)
ECRResponse.get_authorization_token = ecr_get_authorization_token


# --- 18: a template's ECR repository keeps its scanning, encryption and lifecycle policy ----
def _ecr_api_casing(properties):
    """CloudFormation's ScanOnPush / EncryptionType / KmsKey in the casing of the ECR API."""
    converted = dict(properties)
    for key in ("ImageScanningConfiguration", "EncryptionConfiguration"):
        if isinstance(properties.get(key), dict):
            converted[key] = {name[0].lower() + name[1:]: value for name, value in properties[key].items()}
    return converted


def _ecr_cfn_json(cloudformation_json):
    return {**cloudformation_json, "Properties": _ecr_api_casing(cloudformation_json.get("Properties", {}))}


def _ecr_put_lifecycle(repository, cloudformation_json, account_id, region_name):
    policy = (cloudformation_json.get("Properties", {}).get("LifecyclePolicy") or {}).get("LifecyclePolicyText")
    if policy and repository is not None:
        ecr_models.ecr_backends[account_id][region_name].put_lifecycle_policy(
            repository.registry_id, repository.name, policy)
    return repository


_orig_ecr_create_from_cfn = ecr_models.Repository.create_from_cloudformation_json.__func__
_orig_ecr_update_from_cfn = ecr_models.Repository.update_from_cloudformation_json.__func__


def ecr_create_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    repository = _orig_ecr_create_from_cfn(
        cls, resource_name, _ecr_cfn_json(cloudformation_json), account_id, region_name, **kwargs)
    return _ecr_put_lifecycle(repository, cloudformation_json, account_id, region_name)


def ecr_update_from_cfn(cls, original_resource, new_resource_name, cloudformation_json, account_id,
                        region_name):
    repository = _orig_ecr_update_from_cfn(
        cls, original_resource, new_resource_name, _ecr_cfn_json(cloudformation_json), account_id,
        region_name)
    return _ecr_put_lifecycle(repository, cloudformation_json, account_id, region_name)


ecr_models.Repository.create_from_cloudformation_json = classmethod(ecr_create_from_cfn)
ecr_models.Repository.update_from_cloudformation_json = classmethod(ecr_update_from_cfn)


# --- 26: images pushed to the local registry are images of their ECR repository --------------
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

_REGISTRY_MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])


def _registry_get(address, user, password, path, accept=None):
    """(body, headers) of GET http://<address><path> with the registry's credentials; None on 404."""
    request = urllib.request.Request(f"http://{address}{path}")
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    if accept:
        request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.read(), answer.headers
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def _ecr_sync_from_registry(backend, repository_name, registry_id):
    registry = _local_registry()
    if registry is None:
        return
    repository = backend._get_repository(repository_name, registry_id)
    address, user, password = registry
    listed = _registry_get(address, user, password, f"/v2/{repository_name}/tags/list")
    if listed is None:
        return
    tags = json.loads(listed[0]).get("tags") or []
    for tag in tags:
        if any(tag in image.image_tags for image in repository.images):
            continue
        found = _registry_get(address, user, password, f"/v2/{repository_name}/manifests/{tag}",
                              accept=_REGISTRY_MANIFEST_TYPES)
        if found is None:
            continue
        body, headers = found
        manifest = json.loads(body)
        media_type = manifest.get("mediaType") or headers.get("Content-Type")
        backend.put_image(repository_name, body.decode(), tag, image_manifest_mediatype=media_type,
                          digest=headers.get("Docker-Content-Digest"))


_orig_ecr_describe_images = ecr_models.ECRBackend.describe_images
_orig_ecr_list_images = ecr_models.ECRBackend.list_images


def ecr_describe_images(self, repository_name, registry_id=None, image_ids=None):
    _ecr_sync_from_registry(self, repository_name, registry_id)
    return _orig_ecr_describe_images(self, repository_name, registry_id, image_ids)


def ecr_list_images(self, repository_name, registry_id=None, *args, **kwargs):
    _ecr_sync_from_registry(self, repository_name, registry_id)
    return _orig_ecr_list_images(self, repository_name, registry_id, *args, **kwargs)


ecr_models.ECRBackend.describe_images = ecr_describe_images
ecr_models.ECRBackend.list_images = ecr_list_images


# --- 19: {{resolve:ssm:NAME}} and {{resolve:ssm-secure:NAME}} from the stack's SSM ------------
_DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:(ssm|ssm-secure):([^:{}]+)(?::([0-9]+))?\}\}")
_orig_clean_json = cfn_parsing.clean_json


def _resolve_reference(match, resources_map):
    kind, name, version = match.group(1), match.group(2), match.group(3)
    backend = ssm_backends[resources_map._account_id][resources_map._region_name]
    versions = backend._parameters.get(name) or []
    chosen = [v for v in versions if version is None or str(v.version) == version]
    if not chosen:
        raise ValidationError(message=f"Parameters: [{match.group(0)[len('{{resolve:'):-2]}] cannot be found.")
    parameter = chosen[-1]
    secure = parameter.parameter_type == "SecureString"
    if secure != (kind == "ssm-secure"):
        raise ValidationError(
            message=f"Parameters: [{kind}:{name}] is a {parameter.parameter_type}; "
                    f"use {'ssm-secure' if secure else 'ssm'} to refer to it.")
    return parameter.decrypt(parameter.value) if secure else parameter.value


def clean_json_resolving(resource_json, resources_map):
    """Template values with the dynamic references in them resolved, as CloudFormation hands
    them to the resources (section 19)."""
    value = _orig_clean_json(resource_json, resources_map)
    if isinstance(value, str) and "{{resolve:" in value:
        value = _DYNAMIC_REFERENCE.sub(lambda match: _resolve_reference(match, resources_map), value)
    return value


cfn_parsing.clean_json = clean_json_resolving


# --- 20: termination protection -------------------------------------------------------------
def _stack_named(backend, name_or_stack_id):
    return backend.stacks.get(name_or_stack_id) or next(
        (s for s in backend.stacks.values() if s.name == name_or_stack_id and s.status != "DELETE_COMPLETE"), None)


def update_termination_protection_response(self):
    name = self._get_param("StackName")
    stack = _stack_named(self.cloudformation_backend, name)
    if stack is None:
        raise ValidationError(message=f"Stack [{name}] does not exist")
    stack.enable_termination_protection = str(self._get_param("EnableTerminationProtection")).lower() == "true"
    return ActionResult({"StackId": stack.stack_id})


CloudFormationResponse.update_termination_protection = update_termination_protection_response
_orig_protected_delete_stack = cfn_models.CloudFormationBackend.delete_stack


def protected_delete_stack(self, name_or_stack_id):
    stack = _stack_named(self, name_or_stack_id)
    protected = stack is not None and stack.enable_termination_protection not in (False, None, "", "false")
    if protected and stack.status != "DELETE_COMPLETE":
        raise ValidationError(
            message=f"Stack [{stack.name}] cannot be deleted while TerminationProtection is enabled")
    _orig_protected_delete_stack(self, name_or_stack_id)


cfn_models.CloudFormationBackend.delete_stack = protected_delete_stack


# --- 21: stack policies deny what they do not allow ------------------------------------------
import fnmatch  # noqa: E402

from cfnlint.schema import PROVIDER_SCHEMA_MANAGER  # noqa: E402

_CREATE_ONLY = {}


def _create_only_properties(resource_type):
    if resource_type not in _CREATE_ONLY:
        try:
            schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
            paths = [p.removeprefix("/properties/").split("/") for p in schema.get("createOnlyProperties", [])]
        except Exception:  # noqa: BLE001 - a type cfn-lint does not know: nothing is create-only
            paths = []
        _CREATE_ONLY[resource_type] = paths
    return _CREATE_ONLY[resource_type]


def _with_parameters(node, values):
    """A property with Ref to a parameter and ${Parameter} in Fn::Sub replaced by the values."""
    if isinstance(node, dict):
        if len(node) == 1 and isinstance(node.get("Ref"), str) and node["Ref"] in values:
            return str(values[node["Ref"]])
        if len(node) == 1 and isinstance(node.get("Fn::Sub"), str):
            text = node["Fn::Sub"]
            for name, value in values.items():
                text = text.replace("${" + name + "}", str(value))
            return {"Fn::Sub": text}
        return {k: _with_parameters(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_with_parameters(v, values) for v in node]
    return node


def _property(resource_json, path):
    node = resource_json.get("Properties") or {}
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _replaced_resources(old_template, old_values, new_template, new_values):
    old_resources = old_template.get("Resources") or {}
    new_resources = new_template.get("Resources") or {}
    both = [k for k in new_resources if k in old_resources]
    replaced = set()
    for logical_id in both:
        old, new = old_resources[logical_id], new_resources[logical_id]
        if old.get("Type") != new.get("Type"):
            replaced.add(logical_id)
            continue
        for path in _create_only_properties(new.get("Type")):
            if _with_parameters(_property(old, path), old_values) != _with_parameters(_property(new, path), new_values):
                replaced.add(logical_id)
    grew = True
    while grew:
        grew = False
        for logical_id in both:
            new = new_resources[logical_id]
            if logical_id in replaced:
                continue
            for path in _create_only_properties(new.get("Type")):
                if _references(_property(new, path), replaced - {logical_id}):
                    replaced.add(logical_id)
                    grew = True
                    break
    return replaced


def _listed(value):
    return value if isinstance(value, list) else [value]


def _policy_decision(policy, action, logical_id, resource_type):
    """(allowed, (1-based index, statement) of the denying statement or None) for one action on one
    resource."""
    target = f"LogicalResourceId/{logical_id}"
    allowed, denied_by = False, None
    for index, statement in enumerate(policy.get("Statement") or [], start=1):
        if "Action" in statement:
            acts = any(fnmatch.fnmatchcase(action, a) for a in _listed(statement["Action"]))
        else:
            acts = not any(fnmatch.fnmatchcase(action, a) for a in _listed(statement.get("NotAction", [])))
        if "Resource" in statement:
            covers = any(r == "*" or fnmatch.fnmatchcase(target, r) for r in _listed(statement["Resource"]))
        else:
            covers = not any(r == "*" or fnmatch.fnmatchcase(target, r) for r in _listed(statement.get("NotResource", [])))
        for operator, tests in (statement.get("Condition") or {}).items():
            types = _listed((tests or {}).get("ResourceType", []))
            if operator in ("StringEquals", "StringLike"):
                covers = covers and any(fnmatch.fnmatchcase(resource_type, t) for t in types)
            elif operator in ("StringNotEquals", "StringNotLike"):
                covers = covers and not any(fnmatch.fnmatchcase(resource_type, t) for t in types)
        if not (acts and covers):
            continue
        if statement.get("Effect") == "Deny":
            return False, (index, statement)
        allowed = True
    return allowed, denied_by


class _PolicyDenied(_ExportInUse):
    """An update the stack policy does not allow: it was rolled back (handled as 16's)."""


def _policy_refusal(resource_map, stack, template, parameters):
    """The first change of the update that the stack policy denies, as (logical id, type, reason)."""
    try:
        policy = json.loads(stack.policy) if stack.policy else None
    except ValueError:
        policy = None
    if not policy:
        return None
    old_template = resource_map._template or {}
    old_values = _parameter_values(old_template, resource_map.input_parameters or {})
    new_values = _parameter_values(template, parameters or resource_map.input_parameters or {})
    diff = resource_map.build_resource_diff(template, parameters)
    replaced = _replaced_resources(old_template, old_values, template, new_values)
    changes = [(k, "Update:Replace" if k in replaced else "Update:Modify", template) for k in diff["Modify"]]
    changes += [(k, "Update:Delete", old_template) for k in diff["Remove"]]
    for logical_id, action, source in changes:
        resource_type = ((source.get("Resources") or {}).get(logical_id) or {}).get("Type", "")
        allowed, denied_by = _policy_decision(policy, action, logical_id, resource_type)
        if allowed:
            continue
        return logical_id, resource_type, _policy_denial(denied_by, action, logical_id)
    return None


def _policy_denial(denied_by, action, logical_id):
    """AWS's words for a denied change: the denying statement's number and its own Action and
    Resource lists as written (not the change's action and resource), e.g. a policy whose only
    statement denies Update:* on * refuses an Update:Modify with "Action denied by stack policy:
    Statement [#1] does not allow [Update:*] for resource [*];"."""
    if denied_by is None:
        # No statement allows the change (AWS's wording for this case was not found; the
        # policies stackup sets always allow Update:* on *).
        return f"Action denied by stack policy: No statement allows [{action}] for resource [LogicalResourceId/{logical_id}];"
    index, statement = denied_by
    actions = ", ".join(_listed(statement.get("Action", statement.get("NotAction", []))))
    resources = ", ".join(_listed(statement.get("Resource", statement.get("NotResource", []))))
    return f"Action denied by stack policy: Statement [#{index}] does not allow [{actions}] for resource [{resources}];"


_orig_policy_resource_map_update = cfn_parsing.ResourceMap.update


def policy_resource_map_update(self, template, parameters=None):
    backend = cfn_models.cloudformation_backends[self._account_id][self._region_name]
    stack = backend.stacks.get(self.stack_id)
    refusal = _policy_refusal(self, stack, template, parameters) if stack is not None else None
    if refusal is None:
        return _orig_policy_resource_map_update(self, template, parameters)
    logical_id, resource_type, reason = refusal
    _refuse_update(self, stack, logical_id, resource_type, reason)


def _refuse_update(resource_map, stack, logical_id, resource_type, reason):
    """The update fails at one resource before anything changed: its UPDATE_FAILED event, then
    the stack rolls back (UPDATE_ROLLBACK_COMPLETE, as it was; handled as 16's rollback)."""
    resource = resource_map._parsed_resources.get(logical_id)
    stack.events.append(cfn_models.Event(
        stack.stack_id, stack.name, logical_id, getattr(resource, "physical_resource_id", None),
        resource_type, "UPDATE_FAILED", reason, None))
    failed = f"The following resource(s) failed to update: [{logical_id}]. "
    stack.status, stack.status_reason = "UPDATE_ROLLBACK_IN_PROGRESS", failed
    stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=failed)
    stack.status = "UPDATE_ROLLBACK_COMPLETE"
    stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
    raise _PolicyDenied(reason)


cfn_parsing.ResourceMap.update = policy_resource_map_update

# --- 22: major engine upgrades need AllowMajorVersionUpgrade and a group of the new family -----
def _resolved(node, values, holds):
    """A property with parameters (Ref) and Fn::If resolved, enough for plain values."""
    if isinstance(node, dict) and len(node) == 1:
        (function, args), = node.items()
        if function == "Ref" and args in values:
            return values[args]
        if function == "Fn::If" and isinstance(args, list) and len(args) == 3:
            return _resolved(args[1] if holds.get(args[0]) else args[2], values, holds)
    return node


def _major(version):
    head = str(version or "").split(".")[0]
    return int(head) if head.isdigit() else None


def _engine_refusal(resource_map, template, parameters):
    """The first DB instance of the update that RDS would refuse to move to its new version."""
    pseudo = {k: v for k, v in resource_map._parsed_resources.items() if k.startswith("AWS::")}
    values = _parameter_values(template, parameters or resource_map.input_parameters or {})
    holds = _condition_values(template, values, pseudo)
    resources = template.get("Resources") or {}
    for logical_id, resource in resources.items():
        instance = resource_map._parsed_resources.get(logical_id)
        if resource.get("Type") != "AWS::RDS::DBInstance" or not isinstance(instance, rds_models.DBInstance):
            continue
        properties = resource.get("Properties") or {}
        wanted = _resolved(properties.get("EngineVersion"), values, holds)
        before, after = _major(instance.engine_version), _major(wanted)
        if before is None or after is None or before == after:
            continue
        if after < before:
            return logical_id, f"Cannot upgrade {instance.engine} from {instance.engine_version} to {wanted}"
        if not _truthy(_resolved(properties.get("AllowMajorVersionUpgrade"), values, holds)):
            return logical_id, ("The AllowMajorVersionUpgrade flag must be present when upgrading to a new "
                                "major version.")
        group = properties.get("DBParameterGroupName")
        group_id = group.get("Ref") if isinstance(group, dict) else None
        family = _resolved(((resources.get(group_id) or {}).get("Properties") or {}).get("Family"), values, holds)
        current_group = instance.db_parameter_group_name
        if isinstance(family, str) and family != f"{instance.engine}{after}":
            return logical_id, (
                f"The parameter group {current_group} with DBParameterGroupFamily {family} can't be used for "
                f"this instance. Use a parameter group with DBParameterGroupFamily {instance.engine}{after}.")
    return None


_orig_engine_resource_map_update = cfn_parsing.ResourceMap.update


def engine_resource_map_update(self, template, parameters=None):
    backend = cfn_models.cloudformation_backends[self._account_id][self._region_name]
    stack = backend.stacks.get(self.stack_id)
    refusal = _engine_refusal(self, template, parameters) if stack is not None else None
    if refusal is None:
        return _orig_engine_resource_map_update(self, template, parameters)
    logical_id, reason = refusal
    _refuse_update(self, stack, logical_id, "AWS::RDS::DBInstance", reason)


cfn_parsing.ResourceMap.update = engine_resource_map_update
_orig_engine_parse_and_update = cfn_parsing.parse_and_update_resource


def engine_parse_and_update_resource(logical_id, resource_json, resources_map, account_id, region_name):
    updated = _orig_engine_parse_and_update(logical_id, resource_json, resources_map, account_id, region_name)
    if resource_json.get("Type") == "AWS::RDS::DBParameterGroup" and isinstance(updated, rds_models.DBParameterGroup):
        properties = cfn_parsing.clean_json(resource_json.get("Properties") or {}, resources_map)
        if properties.get("Family") and properties["Family"] != updated.family:
            # Family is create-only (AWS::RDS::DBParameterGroup): a new group, with a new name,
            # replaces the old one, which is deleted.
            stem = updated.name.rsplit("-", 1)[0]
            replacement = rds_models.DBParameterGroup.create_from_cloudformation_json(
                f"{stem}-{mock_random.get_random_string(12).lower()}", {"Properties": properties},
                account_id, region_name)
            rds_models.rds_backends[account_id][region_name].delete_db_parameter_group(updated.name)
            return replacement
    if resource_json.get("Type") == "AWS::RDS::DBInstance" and isinstance(updated, rds_models.DBInstance):
        properties = cfn_parsing.clean_json(resource_json.get("Properties") or {}, resources_map)
        if properties.get("EngineVersion"):
            updated.engine_version = str(properties["EngineVersion"])
        if properties.get("DBParameterGroupName"):
            updated.db_parameter_group_name = str(properties["DBParameterGroupName"])
    return updated


cfn_parsing.parse_and_update_resource = engine_parse_and_update_resource


# --- 25: ECS tasks as real containers (scripts/ecs_real_tasks.py) -------------------------------
import ecs_real_tasks  # noqa: E402
from moto.logs.models import logs_backends  # noqa: E402
from moto.servicediscovery.models import servicediscovery_backends  # noqa: E402


def _local_cloud_state():
    try:
        return json.loads(_LOCAL_CLOUD_STATE.read_text())
    except (OSError, ValueError):
        return None


_plain_ecs_start_task = _ecs_start_task
_plain_ecs_run_task = _ecs_run_task
_plain_ecs_stop_task = _ecs_stop_task
_plain_ecs_step = _ecs_step


def _real_start_task(backend, service, deployment):
    task = _plain_ecs_start_task(backend, service, deployment)
    if not ecs_real_tasks.enabled(backend.account_id, _local_cloud_state):
        return task
    cluster = backend._get_cluster(service.cluster_name)
    region = cluster.region_name
    ec2 = ec2_backends[backend.account_id][region]
    subnet_id = next((d["value"] for a in task.attachments for d in a["details"] if d["name"] == "subnetId"), None)
    vpc_id = vpc_cidr = None
    if subnet_id:
        vpc_id = ec2.get_subnet(subnet_id).vpc_id
        vpc_cidr = ec2.get_vpc(vpc_id).cidr_block
    groups = ((service.network_configuration or {}).get("awsvpcConfiguration") or {}).get("securityGroups") or []
    alias = ecs_real_tasks.service_dns_name(service, cluster.name,
                                            servicediscovery_backends[backend.account_id][region])
    ecs_real_tasks.prepare(task, backend.describe_task_definition(deployment["taskDefinition"]), service.name,
                           cluster.arn, alias, ssm_backends[backend.account_id][region],
                           logs_backends[backend.account_id][region], vpc_cidr, backend.account_id, vpc_id, groups,
                           ec2)
    return task


def _real_run_task(task):
    """A real task turns RUNNING once its container runs; its runtimeId is the container's id."""
    outcome = ecs_real_tasks.pending_outcome(task)
    if outcome is not None and outcome != "running":
        return  # starting (pulling); a failure is stopped by _real_step
    _plain_ecs_run_task(task)
    if outcome == "running":
        for container in task.containers:
            container["runtimeId"] = ecs_real_tasks.container_id(task)
            if ecs_real_tasks.image_id(task):
                container["imageDigest"] = ecs_real_tasks.image_id(task)


def _real_stop_task(backend, task, reason, stop_code, exit_code, failed):
    _plain_ecs_stop_task(backend, task, reason, stop_code, exit_code, failed)
    ecs_real_tasks.stop(task)


def _real_step(backend, service):
    """Before the scheduler's step: a real task whose pull or start failed stops as ECS stops
    it (TaskFailedToStart, counted in failedTasks for the circuit breaker), and one whose
    container exited on its own stops with its exit code (EssentialContainerExited), so the
    step starts its replacement ("Amazon ECS stopped tasks errors", "Task lifecycle")."""
    for deployment in service.deployments or []:
        for task in _ecs_tasks(deployment, "PENDING"):
            outcome = ecs_real_tasks.pending_outcome(task)
            if isinstance(outcome, tuple):
                _real_stop_task(backend, task, outcome[1], "TaskFailedToStart", None, True)
                deployment["failedTasks"] += 1
                service._ecs_steady = False
        for task in _ecs_tasks(deployment, "RUNNING"):
            code = ecs_real_tasks.exit_code(task)
            if code is not None:
                _real_stop_task(backend, task, "Essential container in task exited", "EssentialContainerExited",
                                code, False)
                service._ecs_steady = False
    _plain_ecs_step(backend, service)
    _ecs_sync(backend, service)


_ecs_start_task = _real_start_task
_ecs_run_task = _real_run_task
_ecs_stop_task = _real_stop_task
_ecs_step = _real_step


def ecs_model_real_tasks(request, full_url, headers):
    """POST /moto-api/ecs-model/real-tasks {"account_id", "enabled": true|false}: the account's
    service tasks run (or stop running) as real containers; account_id defaults to the
    x-moto-account-id header, then moto's default account.  GET lists the accounts."""
    if request.method == "GET":
        return _ecs_model_json(200, {"accounts": ecs_real_tasks.enabled_accounts()})
    if request.method != "POST":
        return _ecs_model_json(405, {"error": "GET or POST only"})
    try:
        body = json.loads(request.get_data() or b"{}")
        account = str(body.get("account_id") or request.headers.get("x-moto-account-id") or DEFAULT_ACCOUNT_ID)
        wanted = bool(body.get("enabled", True))
    except (ValueError, AttributeError) as e:
        return _ecs_model_json(400, {"error": f"expected a JSON object: {e}"})
    if wanted and not (_local_cloud_state() or {}).get("docker"):
        return _ecs_model_json(409, {"error": f"no Docker engine in {_LOCAL_CLOUD_STATE}: run scripts/local-cloud up"})
    ecs_real_tasks.set_enabled(account, wanted)
    return _ecs_model_json(200, {"status": "ok", "account_id": account, "enabled": wanted})


moto_api_urls.url_paths["{0}/moto-api/ecs-model/real-tasks"] = ecs_model_real_tasks
_plain_moto_api_reset = moto_api_models.MotoAPIBackend.reset


def real_tasks_moto_api_reset(self):
    ecs_real_tasks.stop_all()
    _plain_moto_api_reset(self)


moto_api_models.MotoAPIBackend.reset = real_tasks_moto_api_reset

# --- 24: AWS::ServiceDiscovery::PrivateDnsNamespace and ::Service in templates ----------------
from moto.core.common_models import CloudFormationModel as _CfnModel  # noqa: E402
from moto.servicediscovery import models as sd_models  # noqa: E402


class _CloudMapInUse(CloudFormationError):
    code = "ResourceInUse"


def _cloud_map(account_id, region_name):
    return sd_models.servicediscovery_backends[account_id][region_name]


class CfnPrivateDnsNamespace(_CfnModel):
    """AWS::ServiceDiscovery::PrivateDnsNamespace: Ref is the namespace id."""

    __module__ = "moto.servicediscovery.models"  # moto's model registry keys models by service

    def __init__(self, namespace, account_id, region_name):
        self.namespace = namespace
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_type():
        return "AWS::ServiceDiscovery::PrivateDnsNamespace"

    @staticmethod
    def cloudformation_name_type():
        return "Name"

    @property
    def physical_resource_id(self):
        return self.namespace.id

    @classmethod
    def has_cfn_attr(cls, attr):
        return attr in ("Id", "Arn", "HostedZoneId")

    def get_cfn_attribute(self, attribute_name):
        if attribute_name == "Id":
            return self.namespace.id
        if attribute_name == "Arn":
            return self.namespace.arn
        if attribute_name == "HostedZoneId":
            return (self.namespace.dns_properties or {}).get("HostedZoneId")
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        properties = cloudformation_json.get("Properties") or {}
        backend = _cloud_map(account_id, region_name)
        before = set(backend.namespaces)
        backend.create_private_dns_namespace(
            name=properties.get("Name") or resource_name, creator_request_id=None,
            description=properties.get("Description"), vpc=properties.get("Vpc"),
            tags=properties.get("Tags") or [], properties=properties.get("Properties") or {})
        created = next(backend.namespaces[i] for i in backend.namespaces if i not in before)
        return cls(created, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):
        properties = cloudformation_json.get("Properties") or {}
        namespace = original_resource.namespace
        if (properties.get("Name") or new_resource_name) != namespace.name or properties.get("Vpc") != namespace.vpc:
            replacement = cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id,
                                                              region_name)
            original_resource.delete(account_id, region_name)
            return replacement
        namespace.description = properties.get("Description")
        return original_resource

    def delete(self, account_id, region_name):
        backend = _cloud_map(account_id, region_name)
        if any(service.namespace_id == self.namespace.id for service in backend.services.values()):
            raise _CloudMapInUse(message=f"Namespace {self.namespace.id} has associated services")
        if self.namespace.id in backend.namespaces:
            backend.delete_namespace(self.namespace.id)


class CfnCloudMapService(_CfnModel):
    """AWS::ServiceDiscovery::Service: Ref is the service id."""

    __module__ = "moto.servicediscovery.models"  # moto's model registry keys models by service

    CREATE_ONLY = ("Name", "NamespaceId", "HealthCheckCustomConfig", "Type")

    def __init__(self, service, properties):
        self.service = service
        self.properties = properties

    @staticmethod
    def cloudformation_type():
        return "AWS::ServiceDiscovery::Service"

    @staticmethod
    def cloudformation_name_type():
        return "Name"

    @property
    def physical_resource_id(self):
        return self.service.id

    @classmethod
    def has_cfn_attr(cls, attr):
        return attr in ("Id", "Arn", "Name")

    def get_cfn_attribute(self, attribute_name):
        if attribute_name in ("Id", "Arn", "Name"):
            return getattr(self.service, attribute_name.lower())
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        properties = cloudformation_json.get("Properties") or {}
        namespace_id = properties.get("NamespaceId") or (properties.get("DnsConfig") or {}).get("NamespaceId")
        service = _cloud_map(account_id, region_name).create_service(
            name=properties.get("Name") or resource_name, namespace_id=namespace_id, creator_request_id=None,
            description=properties.get("Description"), dns_config=properties.get("DnsConfig"),
            health_check_config=properties.get("HealthCheckConfig"),
            health_check_custom_config=properties.get("HealthCheckCustomConfig"),
            tags=properties.get("Tags") or [], service_type=properties.get("Type"))
        return cls(service, properties)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):
        properties = cloudformation_json.get("Properties") or {}
        old = dict(original_resource.properties, Name=original_resource.service.name)
        new = dict(properties, Name=properties.get("Name") or new_resource_name)
        if any(old.get(key) != new.get(key) for key in cls.CREATE_ONLY):
            replacement = cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id,
                                                              region_name)
            original_resource.delete(account_id, region_name)
            return replacement
        original_resource.service.description = properties.get("Description")
        if properties.get("DnsConfig"):
            original_resource.service.dns_config = properties["DnsConfig"]
        original_resource.properties = properties
        return original_resource

    def delete(self, account_id, region_name):
        backend = _cloud_map(account_id, region_name)
        if getattr(self.service, "instances", None):
            raise _CloudMapInUse(message=f"Service {self.service.id} has associated instances")
        backend.delete_service(self.service.id)


cfn_parsing.get_model_list.cache_clear()
cfn_parsing.get_model_map.cache_clear()

# --- 27: ECS capacity providers (scripts/ecs_capacity_providers.py) ---------------------------
import ecs_capacity_providers  # noqa: E402

ecs_capacity_providers.install()

# --- 28: AWS::KMS::Key's tags and updates in a template (scripts/kms_keys.py) ------------------
import kms_keys  # noqa: E402

kms_keys.install()

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
