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
   StackName; a missing change set is ChangeSetNotFound (404).

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
        for name in [n for n, e in self.exports.items() if e.exporting_stack_id == stack.stack_id]:
            del self.exports[name]
        for export in stack.exports:
            self.exports[export.name] = export


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
            deleter = _DELETERS.get(resource_json["Type"])
            if deleter:
                deleter(resource, self._account_id, self._region_name)
            else:
                self._delete_resource(resource, resource_json)
        except Exception as e:  # noqa: BLE001 - any backend error is the resource's failure reason
            raise _ResourceDeleteFailed(logical_id, resource_json["Type"],
                                        getattr(resource, "physical_resource_id", None), str(e)) from e
        # A tombstone, not a pop: the lazy map would re-create a missing resource the next
        # time an output or ListStackResources mentions it.
        self._parsed_resources[logical_id] = None


cfn_parsing.ResourceMap.delete = resource_map_delete


def _in_use_reason(backend, stack):
    for export in [e for e in backend.exports.values() if e.exporting_stack_id == stack.stack_id]:
        users = _importers(backend, export.name, except_stack_id=stack.stack_id)
        if users:
            by = users[0] if len(users) == 1 else ", ".join(users[:-1]) + " and " + users[-1]
            return f"Export {export.name} cannot be deleted as it is in use by {by}"
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

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
