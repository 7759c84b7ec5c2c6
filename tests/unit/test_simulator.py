"""The local Tiqets simulator in plain Python: its scenarios and the Tiqets test products they
stand for, and the PDFs it makes. The simulator served on loopback (its clock, faults, vouchers
and webhooks): tests/loopback/test_simulator.py."""

from __future__ import annotations

import re

import pytest

from tiqets_tracker_local.pdfs import make_pdf, minimal_pdf_size
from tiqets_tracker_local.simulator import SCENARIOS, Scenario, scenario_for_test_product

pytestmark = pytest.mark.unit


# -- scenarios -------------------------------------------------------------------------------


def test_scenarios_refuse_unknown_statuses_and_unordered_timelines() -> None:
    with pytest.raises(ValueError, match="status"):
        Scenario(timeline=((0.0, "shipped"),))
    with pytest.raises(ValueError, match="ascending"):
        Scenario(timeline=((10.0, "pending"), (5.0, "done")))
    with pytest.raises(ValueError, match="at least one"):
        Scenario(timeline=())
    assert Scenario(timeline=((0.0, "canceled"),)).timeline[0][1] == "canceled"


def test_the_named_scenarios_include_the_documented_ones() -> None:
    assert SCENARIOS["instant"].timeline == ((0.0, "done"),)
    assert SCENARIOS["delayed"].timeline == ((0.0, "pending"), (660.0, "done"))
    assert SCENARIOS["failed"].timeline[-1] == (60.0, "failed")
    assert SCENARIOS["new_then_done"].timeline == (
        (0.0, "new"),
        (10.0, "pending"),
        (60.0, "done"),
    )


@pytest.mark.parametrize(
    ("product", "variant", "name"),
    [
        (1006356, 38100, "instant"),
        (1006356, 38102, "always_pending"),
        (1006356, 38285, "delayed"),
        (1006518, 38270, "instant"),
        (1006518, 38271, "always_pending"),
    ],
)
def test_each_tiqets_test_product_maps_to_its_documented_behaviour(
    product: int, variant: int, name: str
) -> None:
    assert scenario_for_test_product(product, variant) == SCENARIOS[name]


def test_an_unknown_test_product_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        scenario_for_test_product(1006356, 1)


# -- PDFs ------------------------------------------------------------------------------------


def xref_points_at_every_object(pdf: bytes) -> bool:
    """Whether startxref points at the xref table and each entry at its object."""
    found = re.search(rb"startxref\n(\d+)\n%%EOF\n\Z", pdf)
    if found is None:
        return False
    table = pdf[int(found.group(1)) :]
    lines = table.split(b"\n")
    if lines[0] != b"xref":
        return False
    count = int(lines[1].split()[1])
    entries = lines[3 : 2 + count]
    return all(
        pdf[int(entry[:10]) :].startswith(b"%d 0 obj" % number)
        for number, entry in enumerate(entries, start=1)
    )


def test_a_pdf_is_a_valid_minimal_pdf_showing_its_title() -> None:
    pdf = make_pdf("Rijksmuseum (entry)")

    assert pdf.startswith(b"%PDF-1.4\n")
    assert pdf.endswith(b"%%EOF\n")
    assert b"(Rijksmuseum \\(entry\\)) Tj" in pdf
    assert xref_points_at_every_object(pdf)
    assert len(pdf) == minimal_pdf_size("Rijksmuseum (entry)")


@pytest.mark.parametrize("extra", [0, 1, 2, 50, 127, 128, 129, 1000, 9_000, 99_999, 1_000_003])
def test_a_pdf_asked_for_a_size_is_exactly_that_size_and_still_valid(extra: int) -> None:
    size = minimal_pdf_size("Voucher") + extra

    pdf = make_pdf("Voucher", size=size)

    assert len(pdf) == size
    assert pdf.startswith(b"%PDF-")
    assert pdf.endswith(b"%%EOF\n")
    assert xref_points_at_every_object(pdf)


def test_a_pdf_smaller_than_the_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        make_pdf("Voucher", size=minimal_pdf_size("Voucher") - 1)
