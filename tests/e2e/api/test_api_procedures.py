"""Checklists and two-person verification over real HTTP and WebSocket (issue 14 items 2-3).

One server on a chained SQLite store whose application assigns the shipped procedures as
incidents open (what `kuzet` wires from KUZET_PROCEDURES_PATH or `domain/procedures.toml`).
Every role is tried on the verification and checklist mutations; the console works both in
headless Chromium.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from importlib import resources
from typing import Any
from uuid import UUID

import pytest

from api.console import catalogue
from domain.procedures import load_procedures
from kuzet.settings import CHAINED_SQLITE
from tests.e2e.api.harness import Server, Subscription, open_incident, running_server
from tests.e2e.api.test_api_console import CHROMIUM, _open, _page, _shot

RESULT = """__typename ... on Success { incident { id status version procedure
  checklist { key label(lang: "kk") mandatory dueAt outcome actor reason overdue }
  verification { acknowledgedBy verifiedBy } } }
  ... on VerificationRefused { code message } ... on ProcedureIncomplete { steps message }
  ... on Forbidden { message } ... on InvalidInput { message } ... on NotFound { message }
  ... on IllegalTransition { message }"""
UPDATES = """subscription { incidentUpdates { eventType incident { id
  verification { acknowledgedBy verifiedBy } checklist { key outcome } } } }"""
ROLES: list[tuple[str, str | None]] = [
    ("operator", None), ("supervisor", None), ("admin", None), ("auditor", None),
    ("police", None), ("zhkkh", None), ("education", None), ("operator", "zhkkh"),
    ("operator", "police"), ("supervisor", "education"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("procedures")
    env = {"PERSISTENCE_MODULE": CHAINED_SQLITE, "SQLITE_DBNAME": str(folder / "events.sqlite"),
           "PRIVACY_PEPPER": "e2e-procedures-pepper-0123456789"}
    with running_server(env) as srv:
        srv.app.procedures = load_procedures(
            resources.files("domain").joinpath("procedures.toml").read_text())
        yield srv


def act(server: Server, mutation: str, incident: str, *, who: str = "alice",
        role: str = "operator", agency: str | None = None, **args: str) -> dict[str, Any]:
    """Runs `mutation` at the incident's current version as `who`; returns its result."""
    version = server.gql(f'{{ incident(id: "{incident}") {{ version }} }}',
                         role="supervisor")["data"]["incident"]["version"]
    extra = "".join(f", {k}: {json.dumps(v)}" for k, v in args.items())
    token = server.token(role, agency, subject=who)
    r = server.gql(f'mutation {{ r: {mutation}(id: "{incident}", expectedVersion: {version}'
                   f'{extra}) {{ {RESULT} }} }}', token=token)
    assert "errors" not in r, r
    return r["data"]["r"]  # type: ignore[no-any-return]


def history(server: Server, incident: str, role: str = "operator",
            agency: str | None = None) -> list[dict[str, Any]]:
    r = server.gql(f'{{ incidentHistory(id: "{incident}") {{ events {{ type actor details }} }} }}',
                   token=server.token(role, agency))
    return r["data"]["incidentHistory"]["events"]  # type: ignore[no-any-return]


def test_two_person_dispatch_is_refused_until_a_second_operator_verifies(server: Server) -> None:
    weapon = str(open_incident(server.app, "weapon"))

    async def run() -> list[dict[str, Any]]:
        live = await Subscription.open(server.ws_url, server.token("supervisor"), UPDATES)
        try:
            assert act(server, "acknowledgeIncident", weapon)["__typename"] == "Success"
            refused = act(server, "dispatchIncident", weapon, unit="p-7")
            assert (refused["__typename"], refused["code"]) == ("VerificationRefused",
                                                                "NOT_VERIFIED")
            same = act(server, "verifyIncident", weapon)
            assert (same["__typename"], same["code"]) == ("VerificationRefused", "SAME_PERSON")
            for role, agency in ROLES:  # every role: who may be the second pair of eyes
                if (role, agency) in {("operator", None), ("supervisor", None)}:
                    continue
                r = act(server, "verifyIncident", weapon, who="mallory", role=role,
                        agency=agency)
                assert r["__typename"] == "Forbidden", (role, agency, r)
                r = act(server, "rejectVerification", weapon, who="mallory", role=role,
                        agency=agency, reason="not a weapon")
                assert r["__typename"] == "Forbidden", (role, agency, r)
            ok = act(server, "verifyIncident", weapon, who="bob")
            assert ok["__typename"] == "Success", ok
            assert ok["incident"]["verification"] == {"acknowledgedBy": "operator:alice",
                                                      "verifiedBy": "operator:bob"}
            again = act(server, "verifyIncident", weapon, who="sue", role="supervisor")
            assert again["__typename"] == "InvalidInput"
            sent = act(server, "dispatchIncident", weapon, unit="p-7")
            assert sent["__typename"] == "Success" and sent["incident"]["status"] == "DISPATCHED"
            seen = []
            while not seen or seen[-1]["eventType"] != "Dispatched":
                seen.append((await live.next())["incidentUpdates"])
            return seen
        finally:
            await live.close()

    seen = asyncio.run(run())
    verified = next(u for u in seen if u["eventType"] == "Verified")
    assert verified["incident"]["verification"]["verifiedBy"] == "operator:bob"
    types = [e["type"] for e in history(server, weapon)]
    assert types[:3] == ["Opened", "ProcedureAssigned", "VerificationRequired"]
    assert types.index("Verified") < types.index("Dispatched")


def test_a_rejected_verification_is_a_false_alarm_naming_both(server: Server) -> None:
    weapon = str(open_incident(server.app, "weapon"))
    act(server, "acknowledgeIncident", weapon)
    r = act(server, "rejectVerification", weapon, who="bob", reason="a toy pistol, Ivanov's son")
    assert r["__typename"] == "Success" and r["incident"]["status"] == "FALSE_ALARM"
    events = {e["type"]: e for e in history(server, weapon)}
    rejected, marked = events["VerificationRejected"], events["MarkedFalseAlarm"]
    assert rejected["actor"] == "operator:bob"
    assert rejected["details"] == {"reason": "a toy pistol, Ivanov's son",
                                   "acknowledged_by": "operator:alice"}
    assert "operator:alice" in marked["details"]["reason"]
    assert "operator:bob" in marked["details"]["reason"]
    police = {e["type"]: e for e in history(server, weapon, "operator", "police")}
    assert police["VerificationRejected"]["details"]["reason"].startswith("a toy")  # keeps text


def test_checklist_steps_and_closing_with_or_without_an_override(server: Server) -> None:
    fire = str(open_incident(server.app, "fire"))
    board = server.gql(f'{{ incident(id: "{fire}") {{ procedure checklist {{ key mandatory '
                       f'dueAt label(lang: "ru") }} }} }}')["data"]["incident"]
    assert board["procedure"] == "fire@1"
    assert [(s["key"], s["mandatory"]) for s in board["checklist"]] == [
        ("verify_on_camera", True), ("call_fire_service", True), ("notify_site_owner", False)]
    assert board["checklist"][0]["label"] == "Проверить по камере"
    for role, agency in ROLES:  # only situation-centre people work the checklist
        if (role, agency) not in {("operator", None), ("supervisor", None)}:
            r = act(server, "completeStep", fire, role=role, agency=agency,
                    step="verify_on_camera")
            assert r["__typename"] == "Forbidden", (role, r)
            r = act(server, "skipStep", fire, role=role, agency=agency,
                    step="verify_on_camera", reason="not needed")
            assert r["__typename"] == "Forbidden", (role, r)
    done = act(server, "completeStep", fire, step="verify_on_camera")
    assert done["incident"]["checklist"][0]["outcome"] == "done"
    assert done["incident"]["checklist"][0]["label"] == "Камера арқылы тексеру"
    assert act(server, "completeStep", fire, step="dance")["__typename"] == "InvalidInput"
    assert act(server, "skipStep", fire, step="call_fire_service",
               reason=" ")["__typename"] == "InvalidInput"
    act(server, "acknowledgeIncident", fire)
    act(server, "resolveIncident", fire, resolution="steam from a kettle")
    assert act(server, "closeIncident", fire)["__typename"] == "Forbidden"  # operators don't
    blocked = act(server, "closeIncident", fire, who="sue", role="supervisor")
    assert blocked == {"__typename": "ProcedureIncomplete", "steps": ["call_fire_service"],
                       "message": blocked["message"]}
    skipped = act(server, "skipStep", fire, who="bob", step="call_fire_service",
                  reason="no fire: steam")
    assert skipped["incident"]["checklist"][1]["reason"] == "no fire: steam"
    assert act(server, "closeIncident", fire, who="sue",
               role="supervisor")["incident"]["status"] == "CLOSED"

    other = str(open_incident(server.app, "fire"))
    act(server, "acknowledgeIncident", other)
    act(server, "resolveIncident", other, resolution="out")
    closed = act(server, "closeIncident", other, who="sue", role="supervisor",
                 overrideReason="fire service confirmed by phone")
    assert closed["incident"]["status"] == "CLOSED", closed
    overridden = next(e for e in history(server, other) if e["type"] == "ProcedureOverridden")
    assert overridden["details"]["steps"] == ["verify_on_camera", "call_fire_service"]


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} not installed")
def test_the_console_works_the_checklist_and_two_person_verification(server: Server) -> None:
    """Headless Chromium: the checklist in Russian with done buttons, a dispatch refused until
    a second operator verifies (translated refusals), then dispatched; a supervisor's close
    is refused while a mandatory step is open, then closes with an override. Screenshot
    saved."""
    iid = _open(server, "weapon")
    ru = catalogue("ru")
    with _page() as page:
        page.on("dialog", lambda dialog: dialog.accept("patrol-7"))
        page.goto(f"{server.url}/console")
        page.fill("#token", server.token("operator", subject="alice"))
        page.click("#connect")
        page.locator(f"tr[data-id='{iid}']").click()
        step = page.locator("li[data-step=verify_on_camera]")
        step.wait_for(timeout=15_000)
        assert "Проверить по камере" in step.inner_text()
        step.locator("button[data-act=completeStep]").click()
        page.wait_for_selector("li[data-step=verify_on_camera][data-outcome=done]",
                               timeout=15_000)
        page.click("button[data-act=acknowledgeIncident]")
        page.wait_for_selector(f"tr[data-id='{iid}'][data-status=ACKNOWLEDGED]", timeout=15_000)
        page.click("button[data-act=dispatchIncident]")
        refusal = page.wait_for_selector("#result .err[data-code=NOT_VERIFIED]")
        assert refusal.inner_text() == ru["error.NOT_VERIFIED"]
        page.click("button[data-act=verifyIncident]")
        same = page.wait_for_selector("#result .err[data-code=SAME_PERSON]")
        assert same.inner_text() == ru["error.SAME_PERSON"]
        page.fill("#token", server.token("operator", subject="bob"))
        page.click("#connect")
        page.wait_for_selector("#status[data-state=live]", timeout=15_000)
        page.locator(f"tr[data-id='{iid}']").click()
        page.click("button[data-act=verifyIncident]")
        page.wait_for_selector("#verification[data-verified=yes]", timeout=15_000)
        page.click("button[data-act=dispatchIncident]")
        page.wait_for_selector(f"tr[data-id='{iid}'][data-status=DISPATCHED]", timeout=15_000)
        _shot(page, "console-checklist.png")
        dispatched = server.app.incident(UUID(iid))
        assert (dispatched.acknowledged_by, dispatched.verified_by) == ("operator:alice",
                                                                       "operator:bob")
        page.fill("#token", server.token("supervisor", subject="sue"))
        page.click("#connect")
        page.wait_for_selector("#status[data-state=live]", timeout=15_000)
        page.select_option("#statusFilter", "")  # resolved and closed stay listed
        page.locator(f"tr[data-id='{iid}']").click()
        page.click("button[data-act=resolveIncident]")
        page.wait_for_selector(f"tr[data-id='{iid}'][data-status=RESOLVED]", timeout=15_000)
        page.click("button[data-act=closeIncident]")  # call_police is still open
        refusal = page.wait_for_selector("#result .err[data-code=PROCEDURE_INCOMPLETE]")
        assert refusal.inner_text() == ru["error.PROCEDURE_INCOMPLETE"]
        page.click("button[data-act=closeOverride]")
        page.wait_for_selector(f"tr[data-id='{iid}'][data-status=CLOSED]", timeout=15_000)
    assert server.app.incident(UUID(iid)).procedure_override == "patrol-7"  # the dialog's text
