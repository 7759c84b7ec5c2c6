"""The arithmetic of the "Scale on paper" section (bench/scale.py): per-order averages from the
schedule and cost model, loads as peak rate times per-order figure, linear cost, and a source
for every limit. The figures themselves are assumptions and documented quotas, not tested."""

from __future__ import annotations

import dataclasses

import pytest

from bench import scale
from bench.schedule_model import (
    PRICE,
    TRANSITIONS_DONE_FIRST_CHECK,
    TRANSITIONS_PER_ROUND,
    TRANSITIONS_TIMEOUT_FIRST_CHECK,
    Run,
    cost,
    schedule_times,
)
from tiqets_tracker.check_schedule import WEBHOOK_PROFILE
from tiqets_tracker.fulfilment_pattern import FULFILMENT_PATTERN, share_fulfilled_by

pytestmark = pytest.mark.unit

# Fewer samples than the section uses: the same arithmetic, faster.
SMALL = scale.Mix(samples=40)
ONE_ORDER_A_SECOND = 86_400


def field_names() -> list[str]:
    return [field.name for field in dataclasses.fields(scale.PerOrder)]


def test_cost_grows_linearly_with_orders_a_day() -> None:
    per_thousand = scale.monthly_cost(1_000, SMALL) / 1_000
    for volume in scale.VOLUMES:
        assert scale.monthly_cost(volume, SMALL) == pytest.approx(per_thousand * volume)
        assert scale.monthly_cost_at_template_retention(volume, SMALL) == pytest.approx(
            scale.monthly_cost_at_template_retention(1_000, SMALL) / 1_000 * volume
        )


def test_a_month_of_cost_is_the_mean_order_cost_times_a_month_of_orders() -> None:
    order = scale.per_order(SMALL)
    assert scale.monthly_cost(10_000, SMALL) == pytest.approx(order.cost * 10_000 * 365 / 12)


def test_keeping_vouchers_longer_than_the_model_costs_more() -> None:
    # The template keeps vouchers 400 days by default, the model one month.
    assert scale.monthly_cost_at_template_retention(1_000, SMALL) > scale.monthly_cost(1_000, SMALL)


def test_the_mix_lies_between_the_instant_and_the_never_fulfilled_order() -> None:
    classes = scale.order_classes(SMALL)
    mix = scale.per_order(SMALL)
    # Only a delayed order's webhook wakes a parked execution: neither end has any.
    for name in (name for name in field_names() if name != "send_task_success"):
        low, high = sorted((getattr(classes["instant"], name), getattr(classes["never"], name)))
        assert low - 1e-12 <= getattr(mix, name) <= high + 1e-12, name
    assert 0 < mix.send_task_success <= classes["delayed"].send_task_success


def test_the_mix_is_weighted_by_the_shares() -> None:
    classes = scale.order_classes(SMALL)
    mix = scale.per_order(SMALL)
    expected = (
        SMALL.instant_share * classes["instant"].tiqets_calls
        + SMALL.delayed_share * classes["delayed"].tiqets_calls
        + SMALL.never_share * classes["never"].tiqets_calls
    )
    assert mix.tiqets_calls == pytest.approx(expected)
    assert SMALL.instant_share + SMALL.delayed_share + SMALL.never_share == pytest.approx(1.0)


def test_a_mix_of_only_instant_orders_is_the_instant_order() -> None:
    only_instant = scale.Mix(instant_share=1.0, never_share=0.0, samples=10)
    instant = scale.order_classes(only_instant)["instant"]
    assert scale.per_order(only_instant) == pytest.approx(instant)


def test_instant_and_never_fulfilled_orders_take_the_model_s_fixed_paths() -> None:
    classes = scale.order_classes(SMALL)
    assert classes["instant"].tiqets_calls == 1
    assert classes["instant"].transitions == TRANSITIONS_DONE_FIRST_CHECK
    never = classes["never"]
    assert never.tiqets_calls == len(schedule_times(WEBHOOK_PROFILE, 0))
    assert never.transitions == pytest.approx(
        TRANSITIONS_TIMEOUT_FIRST_CHECK + TRANSITIONS_PER_ROUND * (never.tiqets_calls - 1)
    )
    assert never.open_seconds >= 86_400
    assert never.vouchers == 0
    assert never.apigw_requests == 0


def test_only_the_webhooks_of_delayed_orders_wake_a_parked_execution() -> None:
    classes = scale.order_classes(SMALL)
    assert classes["instant"].send_task_success == 0
    assert classes["never"].send_task_success == 0
    assert classes["delayed"].send_task_success == pytest.approx(SMALL.webhook_delivered_share)


def test_the_lambda_figures_reproduce_the_model_s_lambda_cost() -> None:
    result = Run(calls=7, latency=0.0, parks=6, done=True, webhooks=1)
    figures = scale.figures(result, open_seconds=60.0, woken=True)
    took = scale.durations()
    # The cost model's memory sizes: 256 MB (0.256 GB in its GB-seconds), 512 MB the voucher,
    # 128 MB the outcome metrics (one invocation per order).
    gb_seconds = (
        result.calls * took.check * 0.256
        + took.voucher * 0.512
        + took.webhook * 0.256
        + took.outcome_metrics * 0.128
    )
    assert figures.lambda_invocations == result.calls + 1 + result.webhooks + 1
    assert figures.lambda_invocations * PRICE["lambda_request"] + gb_seconds * PRICE[
        "lambda_gb_second_arm64"
    ] == pytest.approx(cost(result)["Lambda"])
    assert figures.cost == pytest.approx(sum(cost(result).values()))


def test_counts_read_back_from_the_cost_are_whole_numbers() -> None:
    result = Run(calls=7, latency=0.0, parks=6, done=True, webhooks=1)
    figures = scale.figures(result, open_seconds=60.0, woken=True)
    # 2 writes per check, 1 per park, 2 at the end, 1 per webhook (the model's comment).
    assert figures.dynamodb_writes == pytest.approx(2 * 7 + 6 + 2 + 1)
    assert figures.eventbridge_events == pytest.approx(1)
    assert figures.apigw_requests == pytest.approx(1)


def test_durations_are_the_cost_model_s_assumptions() -> None:
    took = scale.durations()
    assert (took.check, took.voucher, took.webhook) == pytest.approx((0.3, 1.0, 0.1))


def test_delays_invert_the_fulfilment_pattern() -> None:
    for seconds, share in FULFILMENT_PATTERN:
        assert scale.delay_at_share(share) == pytest.approx(seconds)
    for between in (30.0, 900.0, 5_000.0, 50_000.0):
        assert scale.delay_at_share(share_fulfilled_by(between)) == pytest.approx(between)
    for share in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="share"):
            scale.delay_at_share(share)


def test_loads_are_the_peak_rate_times_the_per_order_figure() -> None:
    order = scale.per_order(SMALL)
    by_name = {limit.name: limit for limit in scale.limits()}
    starts = by_name["Step Functions StartExecution (Standard)"]
    opened = by_name["Step Functions open executions"]
    concurrency = by_name["Lambda concurrent executions"]
    # One order a second on average is peak_factor a second at the peak.
    assert scale.load(starts, ONE_ORDER_A_SECOND, SMALL) == pytest.approx(SMALL.peak_factor)
    # Little's law: arrivals per second times seconds open.
    assert scale.load(opened, ONE_ORDER_A_SECOND, SMALL) == pytest.approx(
        SMALL.peak_factor * order.open_seconds
    )
    assert scale.load(concurrency, ONE_ORDER_A_SECOND, SMALL) == pytest.approx(
        SMALL.peak_factor * order.lambda_seconds
    )


def test_a_limit_binds_exactly_at_its_binding_volume() -> None:
    for limit in scale.limits():
        at = scale.binds_at(limit, SMALL)
        if limit.capacity is None:
            assert at is None
            continue
        assert at is not None
        assert scale.load(limit, round(at), SMALL) == pytest.approx(limit.capacity, rel=1e-5)


def test_the_closest_limit_is_the_most_used_one() -> None:
    for volume in scale.VOLUMES:
        limit, used = scale.binding(volume, SMALL)
        others = [scale.utilisation(other, volume, SMALL) for other in scale.limits()]
        assert used == max(u for u in others if u is not None)
        assert limit.capacity is not None


def test_the_webhook_throttle_is_the_template_s() -> None:
    throttle = next(limit for limit in scale.limits() if "this stack" in limit.name)
    assert throttle.capacity == scale.template_default("WebhookThrottleRatePerSecond")
    assert str(scale.template_default("WebhookThrottleBurst")) in throttle.default


def test_every_limit_names_its_source_page() -> None:
    for limit in scale.limits():
        assert limit.source, limit.name
        assert limit.knob, limit.name
        assert limit.adjustable, limit.name
        if limit.capacity is None:
            assert "TIQETS_API.md" in limit.source
        elif "this stack" in limit.name:
            assert "template.yaml" in limit.source
        else:
            assert "https://docs.aws.amazon.com/" in limit.source, limit.name
            assert '"' in limit.source, f"{limit.name}: the page title"


def test_the_section_has_its_heading_the_four_volumes_and_every_source() -> None:
    text = scale.section(SMALL)
    assert text.startswith("## Scale on paper\n")
    for volume in scale.VOLUMES:
        assert f"| {volume:,} |" in text
    for limit in scale.limits():
        assert limit.source in text
    assert "us-east-1" in text


def test_cloudwatch_counts_every_alarm_metric_of_the_template() -> None:
    # Eight alarms: five on one metric, and math over 2 (webhook 5xx share), 3 (throttles of
    # three functions) and 6 (Tiqets' error share over every status) metrics.
    assert scale.alarm_metrics() == 5 + 2 + 3 + 6
    assert "16 alarm metrics" in scale.section()
