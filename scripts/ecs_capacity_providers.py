"""ECS capacity providers: scripts/moto_server.py, entry 27 (read it first).

What this module models, and the AWS pages it follows:

- AWS::ECS::CapacityProvider in a template (CloudFormation template reference
  "AWS::ECS::CapacityProvider", "AutoScalingGroupProvider"): a capacity provider of ECS's API
  (CreateCapacityProvider), named Name or, without one, <stack>-<logical id>-<random>; Ref is the
  name; AutoScalingGroupArn takes the group's ARN or name; ManagedDraining is ENABLED unless the
  template says otherwise (developer guide "Configuring Amazon ECS capacity providers to safely
  shut down instances": "Managed instance draining is on by default"); Name and
  AutoScalingGroupArn are create-only (a change replaces the provider), the rest updates in place
  (UpdateCapacityProvider, managedDraining included); the stack's delete deletes it.
- AWS::ECS::ClusterCapacityProviderAssociations (template reference): the cluster's capacity
  providers and default capacity provider strategy (PutClusterCapacityProviders); Ref is the
  cluster's name; an update puts the new lists; a delete leaves the cluster with none.
- CreateService (API reference "CreateService", capacityProviderStrategy and launchType):
  both given is InvalidParameterException "Specifying both a launch type and capacity provider
  strategy is not supported. Remove one and try again."; neither given takes the cluster's
  default capacity provider strategy when it has one (launchType EC2 otherwise); a strategy is
  kept on the service (moto drops it and reports launchType EC2), and the service then has no
  launchType.
- UpdateService (API reference "UpdateService", capacityProviderStrategy): a strategy that
  differs from the service's (a launch type service moving to one included) needs
  forceNewDeployment, else InvalidParameterException "When switching from launch type to
  capacity provider strategy on an existing service, or making a change to a capacity provider
  strategy on a service that is already using one, you must force a new deployment." (the
  error AWS returns); once switched, the service has no launchType.
- Both: a strategy may name only FARGATE, FARGATE_SPOT or a provider associated with the
  service's cluster, else InvalidParameterException "The specified capacity provider strategy
  cannot contain a capacity provider that is not associated with the cluster. Associate the
  capacity provider with the cluster or specify a valid capacity provider and try again."
"""
from moto.cloudformation import parsing as cfn_parsing
from moto.core.common_models import CloudFormationModel
from moto.ecs import models as ecs_models
from moto.ecs.exceptions import InvalidParameterException
from moto.ecs.responses import EC2ContainerServiceResponse

FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")

BOTH_GIVEN = ("Specifying both a launch type and capacity provider strategy is not supported. "
              "Remove one and try again.")
NOT_ASSOCIATED = ("The specified capacity provider strategy cannot contain a capacity provider that is not "
                  "associated with the cluster. Associate the capacity provider with the cluster or specify a "
                  "valid capacity provider and try again.")
FORCE_NEEDED = ("When switching from launch type to capacity provider strategy on an existing service, or "
                "making a change to a capacity provider strategy on a service that is already using one, you "
                "must force a new deployment.")


def _ecs(account_id, region_name):
    return ecs_models.ecs_backends[account_id][region_name]


def _api_provider(properties):
    """AutoScalingGroupProvider in the API's casing (CloudFormation's is PascalCase)."""
    given = properties.get("AutoScalingGroupProvider") or {}
    scaling = given.get("ManagedScaling") or {}
    provider = {
        "autoScalingGroupArn": given.get("AutoScalingGroupArn"),
        "managedDraining": given.get("ManagedDraining") or "ENABLED",
        "managedTerminationProtection": given.get("ManagedTerminationProtection") or "DISABLED",
        "managedScaling": {
            key[0].lower() + key[1:]: value for key, value in scaling.items()
        },
    }
    for key in ("targetCapacity", "minimumScalingStepSize", "maximumScalingStepSize", "instanceWarmupPeriod"):
        if key in provider["managedScaling"]:
            provider["managedScaling"][key] = int(provider["managedScaling"][key])
    return provider


def _api_tags(properties):
    return [{"key": tag.get("Key"), "value": tag.get("Value")} for tag in properties.get("Tags") or []]


def _api_strategy(items):
    strategy = []
    for item in items or []:
        entry = {"capacityProvider": item.get("CapacityProvider")}
        for key in ("Weight", "Base"):
            if key in item:
                entry[key.lower()] = int(item[key])
        strategy.append(entry)
    return strategy


class CfnCapacityProvider(CloudFormationModel):
    """AWS::ECS::CapacityProvider: Ref is the provider's name."""

    __module__ = "moto.ecs.models"  # moto's model registry keys models by service

    def __init__(self, provider, properties):
        self.provider = provider
        self.properties = properties

    @staticmethod
    def cloudformation_type():
        return "AWS::ECS::CapacityProvider"

    @staticmethod
    def cloudformation_name_type():
        return "Name"

    @property
    def physical_resource_id(self):
        return self.provider.name

    @classmethod
    def has_cfn_attr(cls, attr):
        return False

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        properties = cloudformation_json.get("Properties") or {}
        provider = _ecs(account_id, region_name).create_capacity_provider(
            properties.get("Name") or resource_name, _api_provider(properties), _api_tags(properties))
        return cls(provider, properties)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):
        properties = cloudformation_json.get("Properties") or {}
        old = original_resource.properties
        group = lambda props: (props.get("AutoScalingGroupProvider") or {}).get("AutoScalingGroupArn")  # noqa: E731
        if (properties.get("Name") or new_resource_name) != original_resource.provider.name \
                or group(properties) != group(old):
            replacement = cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id,
                                                              region_name)
            original_resource.delete(account_id, region_name)
            return replacement
        wanted = _api_provider(properties)
        original_resource.provider.update(wanted)
        original_resource.provider.auto_scaling_group_provider["managedDraining"] = wanted["managedDraining"]
        original_resource.provider.tags = _api_tags(properties)
        original_resource.properties = properties
        return original_resource

    def delete(self, account_id, region_name):
        backend = _ecs(account_id, region_name)
        if backend._get_provider(self.provider.name) is not None:
            backend.delete_capacity_provider(self.provider.name)


class CfnClusterCapacityProviderAssociations(CloudFormationModel):
    """AWS::ECS::ClusterCapacityProviderAssociations: Ref is the cluster's name."""

    __module__ = "moto.ecs.models"

    def __init__(self, cluster_name):
        self.cluster_name = cluster_name

    @staticmethod
    def cloudformation_type():
        return "AWS::ECS::ClusterCapacityProviderAssociations"

    @staticmethod
    def cloudformation_name_type():
        return ""

    @property
    def physical_resource_id(self):
        return self.cluster_name

    @classmethod
    def has_cfn_attr(cls, attr):
        return False

    @classmethod
    def _put(cls, properties, account_id, region_name):
        cluster = properties.get("Cluster")
        _ecs(account_id, region_name).put_cluster_capacity_providers(
            cluster, list(properties.get("CapacityProviders") or []),
            _api_strategy(properties.get("DefaultCapacityProviderStrategy")))
        return cls(cluster)

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):
        return cls._put(cloudformation_json.get("Properties") or {}, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):
        properties = cloudformation_json.get("Properties") or {}
        if properties.get("Cluster") != original_resource.cluster_name:
            original_resource.delete(account_id, region_name)
        return cls._put(properties, account_id, region_name)

    def delete(self, account_id, region_name):
        backend = _ecs(account_id, region_name)
        if self.cluster_name in backend.clusters:
            backend.put_cluster_capacity_providers(self.cluster_name, [], [])


def _check_associated(backend, cluster_str, strategy):
    cluster = backend._get_cluster(cluster_str)
    associated = set(cluster.capacity_providers or [])
    for item in strategy or []:
        name = item.get("capacityProvider")
        if name not in FARGATE_PROVIDERS and name not in associated:
            raise InvalidParameterException(NOT_ASSOCIATED)
    return cluster


def _same_strategy(current, wanted):
    normal = lambda items: sorted(  # noqa: E731
        (i.get("capacityProvider"), int(i.get("weight") or 0), int(i.get("base") or 0)) for i in items or [])
    return normal(current) == normal(wanted)


_orig_create_service_response = EC2ContainerServiceResponse.create_service
_orig_update_service = ecs_models.EC2ContainerServiceBackend.update_service


def create_service_response(self):
    launch_type = self._get_param("launchType")
    strategy = self._get_param("capacityProviderStrategy")
    if launch_type and strategy:
        raise InvalidParameterException(BOTH_GIVEN)
    cluster_str = self._get_param("cluster", "default")
    cluster = _check_associated(self.ecs_backend, cluster_str, strategy)
    if not launch_type and not strategy:
        strategy = cluster.default_capacity_provider_strategy or None
    result = _orig_create_service_response(self)
    if strategy:
        service = self.ecs_backend._get_service(cluster_str, self._get_param("serviceName"))
        service.capacity_provider_strategy = strategy
        service.launch_type = None
        for deployment in getattr(service, "deployments", None) or []:
            deployment.pop("launchType", None)
            deployment["capacityProviderStrategy"] = strategy
    return result


def update_service(self, service_properties):
    strategy = service_properties.get("capacity_provider_strategy")
    if strategy:
        cluster_str = service_properties.get("cluster", "default")
        service = self._get_service(cluster_str, service_properties["service"].split("/")[-1])
        _check_associated(self, cluster_str, strategy)
        changes = not _same_strategy(getattr(service, "capacity_provider_strategy", None), strategy)
        if changes and not service_properties.get("force_new_deployment"):
            raise InvalidParameterException(FORCE_NEEDED)
        if changes:
            service.launch_type = None
    return _orig_update_service(self, service_properties)


def install():
    EC2ContainerServiceResponse.create_service = create_service_response
    ecs_models.EC2ContainerServiceBackend.update_service = update_service
    cfn_parsing.get_model_list.cache_clear()
    cfn_parsing.get_model_map.cache_clear()

