"""The tracking table for tests, built from template.yaml's TrackingTable (translated and
resolved as the local stack builds it), so a test's table and the deployed one cannot drift."""

from __future__ import annotations

import copy
from functools import cache
from typing import TYPE_CHECKING, Any

from tiqets_tracker_local.stack import create_table_request
from tiqets_tracker_local.template import Resolver, load_sam_template, translate

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

_REGION = "eu-west-1"


@cache
def tracking_table_properties() -> dict[str, Any]:
    """TrackingTable's properties, intrinsics resolved."""
    template = translate(load_sam_template(), _REGION)
    resolver = Resolver.for_template(template, stack_name="tiqets-tracker-test", region=_REGION)
    properties: dict[str, Any] = resolver.resolve(
        template["Resources"]["TrackingTable"]["Properties"]
    )
    return properties


def create_tracking_table(dynamodb: DynamoDBClient, name: str) -> None:
    """Create the tracking table under this name, as the local stack creates it: its keys,
    billing and OpenOrders index from the template, then its time to live."""
    properties = copy.deepcopy(tracking_table_properties())
    dynamodb.create_table(**create_table_request(name, properties))
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
