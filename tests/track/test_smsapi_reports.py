"""Parsing SMSAPI delivery-report callbacks, single and bulk (comma-separated lists)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifier.track.smsapi_reports import Report, parse_reports


def test_one_report() -> None:
    assert parse_reports({"MsgId": "1001AAAAAA", "status": "404", "idx": "abc",
                          "donedate": "1764580000", "to": "48600100200",
                          "username": "sklep"}) == [
        Report("1001AAAAAA", 404, "abc", datetime.fromtimestamp(1764580000, UTC),
               "48600100200")]


def test_bulk_report_lists_align() -> None:
    reports = parse_reports({"MsgId": "1,2", "status": "404,405", "idx": "a,b",
                             "donedate": "1764580000,1764580001", "to": "48600100200,4860"})
    assert [(r.msg_id, r.status, r.idx, r.to) for r in reports] == [
        ("1", 404, "a", "48600100200"), ("2", 405, "b", "4860")]


@pytest.mark.parametrize(("params", "message"), [
    ({"status": "404"}, "MsgId: missing"),
    ({"MsgId": "1,2", "status": "404"}, "status: one per MsgId"),
    ({"MsgId": "1", "status": "DELIVERED"}, "status: 'DELIVERED' is not a status code"),
])
def test_malformed_reports_name_the_parameter(params: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_reports(params)
