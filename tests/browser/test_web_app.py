"""User stories of the web app in Chromium, against the real authorization server and API.

One system serves every test; the demo employee's entries carry over between tests, so
each test works in its own ISO week (moving there with the ← and → buttons) and computes
what it expects from what it added itself. Every page and state is saved as a screenshot
under `test-artifacts/screenshots/`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import httpx
import pytest
from playwright.async_api import Frame, Locator, Page, Request, Response, expect

from tests.browser.conftest import USER_TOKEN_SECONDS, Pages, Shot, System
from timesheets.bootstrap import DEMO_USERS

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

EMPLOYEE = "employee@abc.example"
MANAGER = "manager@abc.example"
#: The ISO week each test logs its hours in, relative to this week, so that none sees
#: another's entries.
WEEK_OF = {
    "add_and_delete": 0,
    "approvals": -1,
    "renewal": -2,
    "errors": -3,
    "phone": -4,
    "reload": -5,
    "week_level": -6,
}
PHONE = {"width": 390, "height": 844}


def unique(name: str) -> str:
    """A project name no other test (or run) uses."""
    return f"{name}-{uuid4().hex[:6]}"


def is_sentence(text: str) -> bool:
    """Words a person can read: one line of at least three words, no leaked JS values."""
    leaked = ("undefined", "null", "[object", "NaN")
    return (
        "\n" not in text.strip()
        and len(text.split()) >= 3
        and text[:1].isalnum()
        and not any(word in text for word in leaked)
    )


def number(text: str) -> float:
    """A number as the app shows it (en-US)."""
    return float(text.replace(",", ""))


async def sign_in(page: Page, system: System, email: str) -> None:
    """From the signed-out screen through the login page to the week page."""
    await page.goto(system.web_url + "/")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(lambda url: url.startswith(f"{system.auth_url}/authorize?"))
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(system.passwords[email])
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(lambda url: url.startswith(system.web_url))
    await expect(page.locator("#week-title")).to_be_visible()


async def shift_week(page: Page, by: int) -> str:
    """Move `by` weeks with the ← / → buttons; the week shown (YYYY-Www)."""
    title = page.locator("#week-title")
    button = page.get_by_role("button", name="Previous week" if by < 0 else "Next week")
    for _ in range(abs(by)):
        before = await title.inner_text()
        await button.click()
        await expect(title).not_to_have_text(before)
    return (await title.inner_text()).removeprefix("Week ")


async def days_of_week(page: Page) -> list[str]:
    """The dates the add form offers (Monday to Sunday of the week shown)."""
    options = page.locator("#add-entry select[name=date] option")
    values: list[str] = await options.evaluate_all("options => options.map(o => o.value)")
    return values


async def week_total(page: Page) -> float:
    """The week total in the table's footer."""
    return number(await page.locator("#week-total").inner_text())


async def add_entry(page: Page, date: str, project: str, hours: float) -> None:
    """Fill the add form and wait for the new row."""
    form = page.locator("#add-entry")
    await form.get_by_role("combobox", name="Day").select_option(date)
    await form.get_by_role("textbox", name="Project").fill(project)
    await form.get_by_role("spinbutton", name="Hours").fill(f"{hours:g}")
    await form.get_by_role("button", name="Add").click()
    await expect(entry_row(page, project)).to_be_visible()
    await expect(page.locator("#status")).to_have_text("Entry added.")


def silently_refused(page: Page) -> Callable[[Frame], bool]:
    """Whether a navigation is the authorization server's login_required answer."""

    def check(frame: Frame) -> bool:
        parts = urlsplit(frame.url)
        return (
            frame == page.main_frame
            and parts.path == "/callback"
            and parse_qs(parts.query).get("error") == ["login_required"]
        )

    return check


def entry_row(page: Page, project: str) -> Locator:
    """The table row of the entry for `project`."""
    return page.locator("#view tbody tr").filter(has_text=project)


async def test_employee_logs_and_deletes_hours_then_signs_out(
    pages: Pages, system: System, shot: Shot
) -> None:
    """Add two entries on different days, see the total, delete one, sign out for good."""
    page = await pages.open()
    await page.goto(system.web_url + "/")
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await expect(page.get_by_role("heading", name="Log your hours")).to_be_visible()
    await shot(page, "1-signed-out")

    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(lambda url: url.startswith(f"{system.auth_url}/authorize?"))
    await shot(page, "2-login-page")
    await page.get_by_label("Email").fill(EMPLOYEE)
    await page.get_by_label("Password").fill(system.passwords[EMPLOYEE])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#week-title")).to_be_visible()
    assert page.url.startswith(system.web_url)
    await expect(page.locator("#who-name")).to_have_text("Erin Employee")
    await shot(page, "3-week")

    assert WEEK_OF["add_and_delete"] == 0
    before = await week_total(page)
    monday, tuesday = (await days_of_week(page))[:2]
    first, second = unique("Apollo"), unique("Borealis")
    await add_entry(page, monday, first, 7.5)
    await expect(page.locator("#week-total")).to_have_text(f"{before + 7.5:g}")
    await add_entry(page, tuesday, second, 2.25)
    await expect(page.locator("#week-total")).to_have_text(f"{before + 9.75:g}")
    await expect(entry_row(page, first)).to_contain_text(monday)
    await expect(entry_row(page, second)).to_contain_text(tuesday)
    await expect(entry_row(page, second)).to_contain_text("submitted")
    await shot(page, "4-two-entries")

    await page.get_by_role("button", name=f"Delete {first} on {monday}").click()
    await expect(entry_row(page, first)).to_have_count(0)
    await expect(page.locator("#status")).to_have_text("Entry deleted.")
    await expect(page.locator("#week-total")).to_have_text(f"{before + 2.25:g}")
    await shot(page, "5-after-delete")

    # Signing out ends the session at the authorization server, which sends the browser
    # back to the app; its silent sign-in is then answered login_required.
    async with page.expect_event("framenavigated", predicate=silently_refused(page)):
        await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{system.web_url}/")
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await expect(page.locator("#view")).to_be_hidden()
    cookies = await page.context.cookies(system.auth_url)
    assert "ts_session" not in {cookie["name"] for cookie in cookies}
    await shot(page, "6-signed-out-again")

    async with page.expect_event("framenavigated", predicate=silently_refused(page)):
        await page.reload()
    await page.wait_for_url(f"{system.web_url}/")
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await expect(page.locator("#view")).to_be_hidden()
    await expect(page.locator("#who-name")).to_be_empty()
    await shot(page, "7-reloaded-still-signed-out")

    # Signed out, the page offers neither the app's navigation nor a Sign out button.
    await expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    await expect(page.get_by_role("button", name="Sign out")).to_be_hidden()


async def test_manager_approves_and_rejects_and_employee_sees_decisions(
    pages: Pages, system: System, shot: Shot
) -> None:
    """A manager decides on two of the employee's entries; the employee sees the outcome."""
    employee = await pages.open()
    await sign_in(employee, system, EMPLOYEE)
    this_week = await employee.locator("#week-title").inner_text()
    week = await shift_week(employee, WEEK_OF["approvals"])
    wednesday, thursday = (await days_of_week(employee))[2:4]
    approved, rejected = unique("Approve-me"), unique("Reject-me")
    await add_entry(employee, wednesday, approved, 6)
    await add_entry(employee, thursday, rejected, 3)
    await shot(employee, "1-employee-submitted")

    manager = await pages.open()
    await sign_in(manager, system, MANAGER)
    await manager.get_by_role("link", name="Approvals").click()
    await expect(manager.get_by_role("heading", name="Waiting for approval")).to_be_visible()
    await expect(entry_row(manager, approved)).to_contain_text(f"{week} ({wednesday})")
    await expect(entry_row(manager, rejected)).to_be_visible()
    # The person by the name their sign-in gave the API, their id beside it.
    name = next(name for email, name, *_ in DEMO_USERS if email == EMPLOYEE)
    await expect(entry_row(manager, approved).get_by_role("cell").first).to_have_text(
        re.compile(rf"^{re.escape(name)} \(\S+\)$")
    )
    await shot(manager, "2-manager-approvals")

    await entry_row(manager, approved).get_by_role("button", name="Approve").click()
    await expect(manager.locator("#status")).to_have_text("Approved.")
    await expect(entry_row(manager, approved)).to_have_count(0)

    reason = "Thursday was a public holiday"
    row = entry_row(manager, rejected)
    await row.get_by_role("button", name="Reject").click()
    await expect(manager.locator("#status")).to_have_text("Give a reason to reject.")
    await row.get_by_role("textbox", name=re.compile(r"^Reason to reject")).fill(reason)
    await shot(manager, "3-manager-rejecting")
    await row.get_by_role("button", name="Reject").click()
    await expect(manager.locator("#status")).to_have_text("Rejected.")
    await expect(entry_row(manager, rejected)).to_have_count(0)
    await shot(manager, "4-manager-decided")

    await employee.get_by_role("link", name="My week").click()
    await expect(employee.locator("#week-title")).to_have_text(this_week)
    await shift_week(employee, WEEK_OF["approvals"])
    await expect(entry_row(employee, approved)).to_contain_text("approved")
    await expect(entry_row(employee, rejected)).to_contain_text("rejected")
    await expect(entry_row(employee, rejected)).to_contain_text(f"Reason: {reason}")
    # An approved entry can no longer be deleted; a rejected one can.
    await expect(entry_row(employee, approved).get_by_role("button")).to_have_count(0)
    await expect(entry_row(employee, rejected).get_by_role("button", name="Delete")).to_be_visible()
    await shot(employee, "5-employee-week")

    await employee.get_by_role("link", name="History").click()
    await expect(employee.get_by_role("heading", name="History")).to_be_visible()
    await expect(entry_row(employee, approved)).to_contain_text("approved")
    await expect(entry_row(employee, rejected)).to_contain_text("rejected")
    await expect(entry_row(employee, rejected)).to_contain_text(reason)
    await expect(entry_row(employee, approved)).to_contain_text(week)
    await shot(employee, "6-employee-history")


async def test_employee_never_reaches_approvals(pages: Pages, system: System, shot: Shot) -> None:
    """No Approvals link for an employee; /approvals shows their week; the API says 403."""
    page = await pages.open()
    await page.goto(system.web_url + "/")
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_label("Email").fill(EMPLOYEE)
    await page.get_by_label("Password").fill(system.passwords[EMPLOYEE])
    async with page.expect_response(
        lambda response: (
            response.url == f"{system.auth_url}/oauth/token" and response.request.method == "POST"
        )
    ) as answer:
        await page.get_by_role("button", name="Sign in").click()
    token = (await (await answer.value).json())["access_token"]
    await expect(page.locator("#week-title")).to_be_visible()

    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="My week")).to_be_visible()
    await expect(nav.get_by_role("link", name="History")).to_be_visible()
    await expect(page.get_by_role("link", name="Approvals")).to_have_count(0)
    await shot(page, "1-no-approvals-link")

    await page.goto(system.web_url + "/approvals")
    await expect(page.locator("#week-title")).to_be_visible()
    await expect(page.get_by_role("heading", name="Waiting for approval")).to_have_count(0)
    await expect(page.get_by_text("Nothing is waiting for approval.")).to_have_count(0)
    await expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    await expect(page.get_by_role("link", name="Approvals")).to_have_count(0)
    await expect(nav.get_by_role("link", name="My week")).to_have_attribute("aria-current", "page")
    await shot(page, "2-approvals-url-shows-week")

    async with httpx.AsyncClient(base_url=system.api_url, trust_env=False) as http:
        headers = {"Authorization": f"Bearer {token}"}
        listing = await http.get("/approvals", headers=headers)
        own = await http.get("/timesheets", headers=headers)
    assert listing.status_code == 403, listing.text
    assert own.status_code == 200, own.text

    # A week's entry (the seed's body has no day) is shown and named by its week.
    await page.goto(system.web_url + "/")
    shown = await shift_week(page, WEEK_OF["week_level"])
    iso_year, iso_week = (int(part) for part in shown.split("-W"))
    project = unique("StoreZero")
    body = {"year": iso_year, "week": iso_week, "project": project, "hours": 40}
    async with httpx.AsyncClient(base_url=system.api_url, trust_env=False) as http:
        created = await http.post("/timesheets", json=body, headers=headers)
    assert created.status_code == 201, created.text
    await page.reload()
    await expect(entry_row(page, project)).to_contain_text(f"week {iso_week}")
    delete = page.get_by_role("button", name=f"Delete {project} in week {iso_week}")
    await expect(delete).to_be_visible()
    await shot(page, "3-week-level-entry")


async def test_tokens_are_renewed_without_a_sign_in_page(
    pages: Pages, system: System, shot: Shot
) -> None:
    """Past the access token's lifetime the app has renewed it; adding hours just works."""
    page = await pages.open()
    grants: list[str] = []
    bearers: list[tuple[str, str]] = []
    navigations: list[str] = []

    def on_request(request: Request) -> None:
        if request.method == "POST" and request.url == f"{system.auth_url}/oauth/token":
            grants.extend(parse_qs(request.post_data or "").get("grant_type", []))
        authorization = request.headers.get("authorization")
        if request.url.startswith(system.api_url) and authorization:
            bearers.append((request.method, authorization))

    page.on("request", on_request)
    await sign_in(page, system, EMPLOYEE)
    await shift_week(page, WEEK_OF["renewal"])
    friday = (await days_of_week(page))[4]
    await shot(page, "1-signed-in")
    assert grants == ["authorization_code"], grants
    first_token = bearers[0][1]

    page.on(
        "framenavigated",
        lambda frame: navigations.append(frame.url) if frame == page.main_frame else None,
    )
    await asyncio.sleep(USER_TOKEN_SECONDS + 5)

    project = unique("Renewed")
    await add_entry(page, friday, project, 4)
    await expect(entry_row(page, project)).to_contain_text("submitted")
    await shot(page, "2-added-after-expiry")
    assert "refresh_token" in grants, grants
    assert set(grants[1:]) == {"refresh_token"}, grants
    posted = [token for method, token in bearers if method == "POST"]
    assert posted, bearers
    assert posted[-1] != first_token
    assert page.url.startswith(system.web_url), page.url
    assert navigations == [], navigations
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()


RENEW_TWICE_AT_ONCE = """async (refresh) => {
  const { Auth } = await import("/static/auth.js");
  const config = await (await fetch("/config.json")).json();
  const auth = new Auth(config, () => {});
  auth.tokens = { access_token: "", refresh_token: refresh, expires_in: 60 };
  await Promise.all([auth.renew(), auth.renew()]);
  const second = auth.tokens.refresh_token;
  await auth.renew();
  clearTimeout(auth.renewTimer);
  return [second !== refresh, auth.tokens.refresh_token !== second];
}"""


async def test_renewals_asked_for_at_once_share_one_refresh(pages: Pages, system: System) -> None:
    """A refresh token is single use and its reuse revokes the sign-in (RFC 9700
    §4.14.2): two renewals wanted at once (the timer and a refused call) make one."""
    page = await pages.open()
    grants: list[str] = []
    refresh_tokens: list[str] = []

    def on_request(request: Request) -> None:
        if request.method == "POST" and request.url == f"{system.auth_url}/oauth/token":
            grants.extend(parse_qs(request.post_data or "").get("grant_type", []))

    async def on_response(response: Response) -> None:
        if response.url == f"{system.auth_url}/oauth/token" and response.ok:
            refresh_tokens.append((await response.json())["refresh_token"])

    page.on("request", on_request)
    page.on("response", on_response)
    await sign_in(page, system, EMPLOYEE)
    for _ in range(100):
        if refresh_tokens:
            break
        await asyncio.sleep(0.05)
    rotated, again = await page.evaluate(RENEW_TWICE_AT_ONCE, refresh_tokens[0])
    assert (rotated, again) == (True, True)
    assert grants == ["authorization_code", "refresh_token", "refresh_token"], grants


async def test_errors_are_shown_in_words(pages: Pages, system: System, shot: Shot) -> None:
    """Too many hours: the browser's own check, then the API's refusals, said in a sentence."""
    page = await pages.open()
    await sign_in(page, system, EMPLOYEE)
    await shift_week(page, WEEK_OF["errors"])
    monday, tuesday = (await days_of_week(page))[:2]
    base = unique("Baseline")
    await add_entry(page, monday, base, 8)
    total = await week_total(page)

    posts: list[str] = []
    page.on(
        "request",
        lambda request: (
            posts.append(request.url)
            if request.method == "POST" and request.url.startswith(system.api_url)
            else None
        ),
    )
    form = page.locator("#add-entry")
    status = page.locator("#status")
    hours = form.get_by_role("spinbutton", name="Hours")

    # 25 hours: the form's own limit stops it before anything is sent.
    await form.get_by_role("combobox", name="Day").select_option(tuesday)
    await form.get_by_role("textbox", name="Project").fill(unique("TooLong"))
    await hours.fill("25")
    await form.get_by_role("button", name="Add").click()
    assert await hours.evaluate("input => input.validity.rangeOverflow")
    assert posts == []
    await shot(page, "1-browser-refuses-25")

    # 24 more hours on a day that already has 8: the API refuses, the app says why.
    await form.get_by_role("combobox", name="Day").select_option(monday)
    await hours.fill("24")
    await form.get_by_role("button", name="Add").click()
    await expect(status).to_have_class(re.compile(r"\berror\b"))
    await expect(status).to_contain_text(f"more than 24 hours on {monday}")
    await shot(page, "2-api-refuses-day-over-24")
    said = await status.inner_text()
    assert is_sentence(said), said
    assert len(posts) == 1

    # 25 hours with the form's limit removed (an older browser): the API's words again.
    await hours.evaluate("input => input.removeAttribute('max')")
    await form.get_by_role("combobox", name="Day").select_option(tuesday)
    await hours.fill("25")
    await form.get_by_role("button", name="Add").click()
    await expect(status).to_contain_text("may not exceed 24")
    await shot(page, "3-api-refuses-25")
    said = await status.inner_text()
    assert is_sentence(said), said

    # Not a blank page: the week, its total and the form are still there.
    await expect(page.locator("#week-title")).to_be_visible()
    await expect(page.locator("#week-total")).to_have_text(f"{total:g}")
    await expect(form).to_be_visible()
    await expect(entry_row(page, base)).to_be_visible()


async def test_week_page_fits_a_phone(pages: Pages, system: System, shot: Shot) -> None:
    """At 390x844 the week page (and History) never scrolls sideways, and hours can be added."""
    page = await pages.open(viewport=PHONE, has_touch=True)
    await page.goto(system.web_url + "/")
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await shot(page, "1-signed-out")
    await sign_in(page, system, EMPLOYEE)

    await shift_week(page, WEEK_OF["phone"])
    dates = await days_of_week(page)
    before = await week_total(page)
    await add_entry(page, dates[0], unique("Mobile-Platform-Refactoring"), 7.75)
    await add_entry(page, dates[6], unique("Weekend"), 1)
    await expect(page.locator("#week-total")).to_have_text(f"{before + 8.75:g}")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the week page is {width} px wide on a 390 px screen"
    await shot(page, "2-week")

    await page.get_by_role("link", name="History").click()
    await expect(page.get_by_role("heading", name="History")).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the History page is {width} px wide on a 390 px screen"
    await shot(page, "3-history")


async def test_login_page_fits_a_phone(pages: Pages, system: System, shot: Shot) -> None:
    """At 390x844 the authorization server's login page never scrolls sideways."""
    page = await pages.open(viewport=PHONE, has_touch=True)
    await page.goto(system.web_url + "/")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_label("Email")).to_be_visible()
    await shot(page, "1-login")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the login page is {width} px wide on a 390 px screen"


async def test_keyboard_reaches_sign_in_and_login_fields_are_labelled(
    pages: Pages, system: System, shot: Shot
) -> None:
    """Tab to Sign in, Enter: the login page, whose fields are labelled; sign in by keys."""
    page = await pages.open()
    await page.goto(system.web_url + "/")
    login = page.get_by_role("button", name="Sign in")
    await expect(login).to_be_visible()
    for _ in range(10):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement && document.activeElement.id") == "login":
            break
    await expect(login).to_be_focused()
    await shot(page, "1-sign-in-focused")

    await page.keyboard.press("Enter")
    await page.wait_for_url(lambda url: url.startswith(f"{system.auth_url}/authorize?"))
    email = page.get_by_label("Email")
    password = page.get_by_label("Password")
    await expect(email).to_have_attribute("id", "email")
    await expect(password).to_have_attribute("id", "password")
    await expect(page.get_by_role("textbox", name="Email")).to_have_attribute("type", "email")
    await expect(email).to_be_focused()
    await shot(page, "2-login-page")

    await page.keyboard.type(EMPLOYEE)
    await page.keyboard.press("Tab")
    await expect(password).to_be_focused()
    await page.keyboard.type(system.passwords[EMPLOYEE])
    await page.keyboard.press("Enter")
    await expect(page.locator("#week-title")).to_be_visible()
    assert page.url.startswith(system.web_url)
    await shot(page, "3-signed-in")


async def test_a_reload_or_a_bookmark_keeps_the_week(
    pages: Pages, system: System, shot: Shot
) -> None:
    """/week?week=YYYY-Www survives the silent sign-in of a reload or a bookmark."""
    page = await pages.open()
    await sign_in(page, system, EMPLOYEE)
    week = await shift_week(page, WEEK_OF["reload"])
    assert urlsplit(page.url).query == f"week={week}", page.url
    await shot(page, "1-week-shown")

    await page.reload()
    await expect(page.locator("#week-title")).to_be_visible()
    await shot(page, "2-after-reload")
    await expect(page.locator("#week-title")).to_have_text(f"Week {week}")

    await page.goto(f"{system.web_url}/week?week={week}")
    await expect(page.locator("#week-title")).to_have_text(f"Week {week}")
    await shot(page, "3-bookmark")
