"""The audit log page: newest first, filters, paging to older events."""

from __future__ import annotations

import html
import re
from typing import Any

from tests.authserver.console.conftest import Console, field_error
from timesheets.authserver import audit, people

ROW = re.compile(
    r'<td>[^<]+</td>\s*<th scope="row">([^<]+)</th>\s*<td>(\w+)</td>\s*'
    r"<td><code>([^<]+)</code></td>\s*<td><code>([^<]+)</code></td>"
)
OLDER = re.compile(r'<a class="button" href="([^"]+)">Older events</a>')


def _rows(page: str) -> list[tuple[str, ...]]:
    return [tuple(html.unescape(cell) for cell in row) for row in ROW.findall(page)]


async def test_filters_paging_and_bad_filters(console: Console) -> None:
    for query, field, words in (
        ("since=yesterday", "since", "not a date and time"),
        ("until=2026-13-01", "until", "not a date and time"),
        ("outcome=maybe", "outcome", "outcome must be one of"),
    ):
        answer = await console.admin.http.get(f"/admin/audit?{query}")
        assert answer.status_code == 400
        assert words in field_error(answer.text, "filters", field)
    assert (await console.admin.http.get("/admin/audit?before=x")).status_code == 400
    actor = f"user:{console.admin.user_id}"

    async def roles(session: Any) -> None:
        with audit.acting_as(actor):
            for number in range(55):
                await people.create_role(session, f"Role {number:02d}")

    await console.server.tenant.run(roles)
    first = await console.admin.page(f"/admin/audit?kind=role.created&actor={actor}")
    rows = _rows(first)
    assert [row[3] for row in rows] == [f"Role {n:02d}" for n in range(54, 4, -1)]  # newest first
    assert {row[:3] for row in rows} == {("role.created", "success", actor)}
    older = OLDER.search(first)
    assert older is not None
    second = await console.admin.page(html.unescape(older.group(1)))
    assert [row[3] for row in _rows(second)] == [f"Role {n:02d}" for n in range(4, -1, -1)]
    assert OLDER.search(second) is None
    assert 'value="role.created"' in second  # the filters stay filled in

    one = await console.admin.page("/admin/audit?subject=Role+07&kind=role.created+user.created")
    assert [row[3] for row in _rows(one)] == ["Role 07"]
    for query in ("outcome=failure", "since=2999-01-01T00:00", "until=2000-01-01T00:00"):
        page = await console.admin.page(f"/admin/audit?kind=role.created&{query}")
        assert _rows(page) == []
        assert "No events match." in page
    recent = await console.admin.page("/admin/audit?kind=role.created&since=2000-01-01T00:00:00")
    assert len(_rows(recent)) == 50
