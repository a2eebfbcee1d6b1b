"""AWS::KMS::Key in a template: scripts/moto_server.py, entry 28 (read it first).

What this module models, and the AWS pages it follows:

- Tags (CloudFormation template reference "AWS::KMS::Key", Tags: a list of {Key, Value};
  KMS API reference "TagResource": the API's tags are {TagKey, TagValue}).  moto 5.2.5 hands
  the template's list to its KMS backend unchanged, whose tagging service reads TagKey: any
  Tags make the key's creation fail (KeyError 'TagKey', HTTP 500 from CreateStack or
  ExecuteChangeSet, the stack left CREATE_IN_PROGRESS).  Fix: the template's tags become the
  key's tags (ListResourceTags shows them).
- Updates (template reference: Description, EnableKeyRotation, Enabled, KeyPolicy and Tags
  update with "No interruption"; KMS developer guide "Editing keys": UpdateKeyDescription,
  PutKeyPolicy, EnableKeyRotation / DisableKeyRotation, EnableKey / DisableKey, TagResource /
  UntagResource).  moto cannot update a key: entry 7 keeps it in the stack, unchanged.  Fix:
  the same key gets the new description, policy, rotation, state and tags (tags the template
  no longer names are removed: the template's list is the key's whole set).
- KeyPolicy (template reference: "Type: Json"; KMS API reference "GetKeyPolicy": the policy is a
  JSON document, a string).  moto keeps the template's object as it is, so GetKeyPolicy answers
  an object and every DescribeKey of the key fails (its policy check parses the policy: HTTP
  500).  Fix: the key keeps the policy as JSON text.
"""
import json

from moto.kms import models as kms_models


def _api_tags(properties):
    """The template's [{Key, Value}] as the KMS API's [{TagKey, TagValue}]."""
    return [{"TagKey": tag["Key"], "TagValue": tag.get("Value", "")} for tag in properties.get("Tags") or []]


def _policy_text(policy):
    return policy if isinstance(policy, str) else json.dumps(policy)


def _truthy(value):
    return value is True or str(value).lower() == "true"


_orig_create_from_cfn = kms_models.Key.create_from_cloudformation_json.__func__


def create_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    properties = cloudformation_json.get("Properties", {})
    untagged = {**cloudformation_json, "Properties": {k: v for k, v in properties.items() if k != "Tags"}}
    if "KeyPolicy" in properties:
        untagged["Properties"]["KeyPolicy"] = _policy_text(properties["KeyPolicy"])
    key = _orig_create_from_cfn(cls, resource_name, untagged, account_id, region_name, **kwargs)
    tags = _api_tags(properties)
    if tags:
        kms_models.kms_backends[account_id][region_name].tagger.tag_resource(key.id, tags)
    return key


def update_from_cfn(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
    backend = kms_models.kms_backends[account_id][region_name]
    key = original_resource
    properties = cloudformation_json.get("Properties", {})
    if "KeyPolicy" in properties:
        backend.put_key_policy(key.id, _policy_text(properties["KeyPolicy"]))
    backend.update_key_description(key.id, properties.get("Description", ""))
    if _truthy(properties.get("EnableKeyRotation", False)):
        backend.enable_key_rotation(key.id)
    else:
        backend.disable_key_rotation(key.id)
    key.enabled = _truthy(properties.get("Enabled", True))
    backend.tagger.delete_all_tags_for_resource(key.id)
    tags = _api_tags(properties)
    if tags:
        backend.tagger.tag_resource(key.id, tags)
    return key


def install():
    kms_models.Key.create_from_cloudformation_json = classmethod(create_from_cfn)
    kms_models.Key.update_from_cloudformation_json = classmethod(update_from_cfn)
