"""The soak's search for secrets (tiqets_tracker_local/oracles/leaks.py) finds what it looks for: a
clean run gives zero only because nothing is there, not because nothing was searched."""

from __future__ import annotations

import pytest

from tests.workflow.conftest import API_KEY
from tests.workflow.support import wait_until_parked
from tiqets_tracker_local.oracles.leaks import scan_stack
from tiqets_tracker_local.simulator import TiqetsSimulator
from tiqets_tracker_local.stack import LocalStack

pytestmark = pytest.mark.workflow


def test_a_tracked_order_leaves_no_secret_and_a_planted_one_is_found_where_it_is(
    stack: LocalStack, tiqets: TiqetsSimulator, order_id: str
) -> None:
    tiqets.add_order(order_id, "always_pending")
    started = stack.start_tracking(order_id)
    wait_until_parked(stack, order_id)  # issues a task token
    tiqets.set_status(order_id, "done")
    assert stack.wait_for(started.execution_arn)["status"] == "SUCCEEDED"

    clean = scan_stack(stack, api_key=API_KEY)

    assert clean.leaks == []
    assert clean.task_tokens >= 1
    assert set(clean.searched) == {
        "execution histories and descriptions",
        "errors in execution histories",
        "outcome and sweep events",
        "tracking records",
        "stored objects",
    }

    stack.client("s3").put_object(
        Bucket=stack.voucher_bucket_name, Key="planted.txt", Body=f"key={API_KEY}".encode()
    )
    stack.client("dynamodb").update_item(
        TableName=stack.tracking_table_name,
        Key={"order_reference_id": {"S": order_id}},
        UpdateExpression="SET planted = :half",
        ExpressionAttributeValues={":half": {"S": stack.webhook_signing_key[:32]}},
    )
    planted = scan_stack(stack, api_key=API_KEY)
    token = planted.secrets[-1]  # the keys come first, then the tokens
    planted.search_printed(["a clean line", f"parked on {token}"])

    places = {leak.partition(":")[0] for leak in planted.leaks}
    assert places == {"printed lines", "stored objects", "tracking records"}
    # Reported cut short: no secret, nor its first half, shows in the report.
    report = "\n".join(planted.leaks)
    assert all(secret[: len(secret) // 2] not in report for secret in planted.secrets)
