"""The scenario's "Auth0 Configuration" section done by an administrator in the admin
console, in Chromium: the API with its signing algorithm and scopes, the machine to machine
application and its secret (shown once), its authorization by ticking scopes, roles with
permissions, a user with a role, a key rotation and the audit log. Then the application's
secret gets a token, a phone and a keyboard can do the work, and a non-administrator is
refused. Every page is saved as a screenshot under `test-artifacts/screenshots/`.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Pages, Shot, System
from timesheets import bootstrap

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

ADMIN = "admin@abc.example"
EMPLOYEE = "employee@abc.example"
PHONE = {"width": 390, "height": 844}
#: The bootstrapped tenant already has the scenario's API; the console makes a second one.
API_NAME = "Timesheets API (console)"
IDENTIFIER = "https://timesheets.console.example"
JOB = "Timesheets import Job (console)"
ROLES = {f"Console {name}": scopes for name, scopes in bootstrap.ROLES.items()}


async def sign_in(page: Page, system: System, email: str, start: str = "/admin") -> None:
    """Open a console page signed out, and sign in on the console's form."""
    await page.goto(system.auth_url + start)
    await expect(page.get_by_role("heading", name="Sign in to the admin console")).to_be_visible()
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(system.passwords[email])
    await page.get_by_role("button", name="Sign in").click()


async def section(page: Page, name: str) -> None:
    """Go to a section of the console by its navigation."""
    await page.get_by_role("navigation", name="Sections").get_by_role("link", name=name).click()


async def flash(page: Page, text: str) -> None:
    """The page says what the last change did."""
    await expect(page.get_by_role("status")).to_contain_text(text)


async def wide(page: Page) -> int:
    """How wide the page is laid out, in CSS pixels."""
    width: int = await page.evaluate("document.documentElement.scrollWidth")
    return width


async def test_auth0_configuration_section_through_the_console(
    pages: Pages, system: System, shot: Shot
) -> None:
    """Configure the API, the machine client, its access, roles, a user and keys."""
    page = await pages.open()
    await page.goto(system.auth_url + "/admin")
    await expect(page.get_by_label("Email")).to_be_focused()
    await shot(page, "00-sign-in")
    await sign_in(page, system, ADMIN)
    await expect(page.get_by_role("heading", name="APIs")).to_be_visible()
    await expect(page.get_by_role("link", name="APIs", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    await shot(page, "01-apis")

    # Configure the API: name, identifier, signing algorithm, scopes.
    await page.get_by_role("link", name="Create API").click()
    await page.get_by_label("Name").fill(API_NAME)
    await page.get_by_label("Identifier").fill("timesheets.console.example")
    await expect(page.get_by_label("Signing algorithm")).to_have_value("RS256")
    await page.get_by_label("Scopes").fill(
        "\n".join(f"{value} {text}" for value, text in bootstrap.SCOPES.items())
    )
    await page.get_by_role("button", name="Create").click()
    identifier = page.get_by_label("Identifier")
    await expect(identifier).to_have_attribute("aria-invalid", "true")
    error = page.locator("#create-identifier-error")
    await expect(error).to_contain_text("absolute URI")
    await expect(identifier).to_have_attribute(
        "aria-describedby", re.compile("create-identifier-error")
    )
    await expect(page.get_by_label("Name")).to_have_value(API_NAME)  # kept
    await shot(page, "02-api-error-next-to-field")
    await identifier.fill(IDENTIFIER)
    await page.get_by_role("button", name="Create").click()
    await flash(page, f"API {API_NAME} created.")
    await expect(page.get_by_role("heading", name=API_NAME)).to_be_visible()
    for value in bootstrap.SCOPES:
        await expect(page.get_by_role("rowheader", name=value)).to_be_visible()
    await shot(page, "03-api")

    # Create the machine to machine application: its secret is shown once.
    await section(page, "Applications")
    await page.get_by_role("link", name="Create application").click()
    await page.get_by_label("Name").fill(JOB)
    await expect(page.get_by_label("Machine to machine")).to_be_checked()
    await shot(page, "04-application-new")
    await page.get_by_role("button", name="Create").click()
    await expect(page.get_by_role("heading", name=f"Application {JOB} created")).to_be_visible()
    secret = await page.locator("#secret").input_value()
    client_id = await page.locator("#client-id").inner_text()
    assert len(secret) >= 32
    await shot(page, "05-secret-shown-once")
    await page.get_by_role("link", name="Done, I have stored it").click()
    await expect(page.get_by_role("heading", name=JOB)).to_be_visible()
    assert secret not in await page.content()
    await shot(page, "06-application")

    # Authorize it for the API by ticking scopes, as in the original screenshots.
    await page.get_by_role("link", name=f"Authorize for {API_NAME}").click()
    await expect(page.get_by_text("Unauthorized")).to_be_visible()
    for value in bootstrap.IMPORT_JOB_SCOPES:
        await page.get_by_label(value).check()
    await shot(page, "07-authorize-scopes")
    await page.get_by_role("button", name="Authorize").click()
    await flash(page, "Authorized with 2 scope(s).")
    for value in bootstrap.SCOPES:
        box = page.get_by_label(value)
        await (
            expect(box).to_be_checked()
            if value in bootstrap.IMPORT_JOB_SCOPES
            else expect(box).not_to_be_checked()
        )
    await shot(page, "08-authorized")

    # Roles with permissions on the API.
    for role, permissions in ROLES.items():
        await section(page, "Roles")
        await page.get_by_label("Name").fill(role)
        await page.get_by_role("button", name="Create role").click()
        await flash(page, f"Role {role} created.")
        form = page.locator("form").filter(has=page.get_by_role("group", name=API_NAME))
        for value in permissions:
            await form.get_by_label(value).check()
        await form.get_by_role("button", name="Save permissions").click()
        await flash(page, "Permissions saved.")
    await shot(page, "09-role")

    # A user with a role.
    await section(page, "Users")
    await page.get_by_role("link", name="Create user").click()
    await page.get_by_label("Email").fill("contractor.two@abc.example")
    await page.get_by_label("Name").fill("Cam Contractor")
    await page.get_by_label("Password").fill("a long enough password")
    await page.get_by_label("Type").select_option("Contractor")
    await page.get_by_label("Console Employee").check()
    await shot(page, "10-user-new")
    await page.get_by_role("button", name="Create").click()
    await flash(page, "User contractor.two@abc.example created.")
    await expect(page.get_by_role("button", name="Take away Console Employee")).to_be_visible()
    await shot(page, "11-user")

    # Rotate the signing key.
    await section(page, "Signing keys")
    current = page.locator("tr").filter(has=page.locator(".state-current")).filter(has_text="RS256")
    before = await current.locator("code").inner_text()
    await page.get_by_role("button", name="Rotate RS256").click()
    await flash(page, "RS256 rotated")
    await expect(page.locator("tr").filter(has_text=before)).to_contain_text("previous")
    await shot(page, "12-keys-rotated")

    # The audit log, filtered to this administrator's new applications.
    await section(page, "Audit log")
    await page.get_by_label("Kind").fill("client.created grant.saved")
    await page.get_by_label("Subject").fill(client_id)
    await page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.events tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("grant.saved")
    await expect(rows.nth(1)).to_contain_text("client.created")
    await expect(rows.nth(0)).to_contain_text("user:usr_")
    await shot(page, "13-audit-filtered")

    # The application made in the console gets a token with the secret shown once.
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            f"{system.auth_url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
                "audience": IDENTIFIER,
            },
        )
    assert answer.status_code == 200, answer.text
    assert sorted(answer.json()["scope"].split()) == sorted(bootstrap.IMPORT_JOB_SCOPES)


async def test_console_fits_a_phone_and_a_form_works_by_keyboard(
    pages: Pages, system: System, shot: Shot
) -> None:
    """At 390x844 no console page scrolls sideways; a role is created with keys alone."""
    phone = await pages.open(viewport=PHONE, has_touch=True)
    await sign_in(phone, system, ADMIN, "/admin/applications")
    await expect(phone.get_by_role("heading", name="Applications")).to_be_visible()
    for path, name in (
        ("/admin/applications", "01-applications"),
        ("/admin/apis/new", "02-api-new"),
        ("/admin/keys", "03-keys"),
        ("/admin/audit", "04-audit"),
    ):
        await phone.goto(system.auth_url + path)
        assert await wide(phone) <= PHONE["width"], f"{path} is wider than a phone"
        await shot(phone, f"phone-{name}")
    await section(phone, "Applications")
    await phone.get_by_role("link", name="Timesheets Import Job", exact=True).click()
    await phone.get_by_role("link", name="Change scopes for Timesheets API").click()
    await expect(phone.get_by_label("batch:upload")).to_be_checked()
    assert await wide(phone) <= PHONE["width"]
    await shot(phone, "phone-05-access")

    page = await pages.open()
    await sign_in(page, system, ADMIN, "/admin/roles")
    await expect(page.get_by_role("heading", name="Roles", exact=True)).to_be_visible()
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    name = page.locator("#create-name")
    for _ in range(40):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.id") == "create-name":
            break
    await expect(name).to_be_focused()
    outline = await name.evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline != "none", "the focused field shows no focus ring"
    await page.keyboard.type("Auditor")
    await page.keyboard.press("Tab")
    await expect(page.locator("#create-description")).to_be_focused()
    await page.keyboard.type("Reads the audit log")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Create role")).to_be_focused()
    await shot(page, "keyboard-1-form-filled")
    await page.keyboard.press("Enter")
    await flash(page, "Role Auditor created.")
    await expect(page.get_by_role("heading", name="Auditor")).to_be_visible()
    await shot(page, "keyboard-2-role-created")


async def test_a_user_without_the_admin_role_is_refused(
    pages: Pages, system: System, shot: Shot
) -> None:
    """The demo employee signs in and gets a 403 page, without navigation or data."""
    page = await pages.open()
    await sign_in(page, system, EMPLOYEE, "/admin/users")
    await expect(page.get_by_role("heading", name="You need the Admin role")).to_be_visible()
    await expect(page.get_by_role("navigation")).to_have_count(0)
    assert ADMIN not in await page.content()
    answer = await page.request.get(system.auth_url + "/admin/apis", max_redirects=0)
    assert answer.status == 403
    await shot(page, "refused")
    await page.get_by_role("button", name="Sign out and sign in as someone else").click()
    await expect(page.get_by_role("heading", name="Sign in to the admin console")).to_be_visible()
