"""Authorisation matrix: every role x view x personal field, over real HTTP."""

from __future__ import annotations

import pytest

from tests.e2e.api.harness import Server

VIEWS = """query($plate: ID!, $waste: ID!, $fire: ID!) {
  me { role readOnly sessPersonal: seesPersonalData }
  list: incidents(first: 200) { edges { node { id subject key } } }
  plate: incident(id: $plate) { subject key personalMasked }
  waste: incident(id: $waste) { id }
  fire: incident(id: $fire) { id }
  plateHistory: incidentHistory(id: $plate) { events { type details } }
}"""

# role -> (sees plate (police), sees waste (zhkkh), sees fire (emergency), personal, read-only)
MATRIX = {
    "operator":   (True,  True,  True,  False, False),
    "supervisor": (True,  True,  True,  False, False),
    "admin":      (True,  True,  True,  False, False),
    "police":     (True,  False, False, True,  False),
    "zhkkh":      (False, True,  False, False, False),
    "education":  (False, False, False, False, False),
    "auditor":    (True,  True,  True,  True,  True),
}


@pytest.mark.parametrize("role", list(MATRIX))
def test_role_sees_its_agencies_and_personal_fields_only_if_allowed(
        server: Server, seeded: dict[str, str], role: str) -> None:
    plate, waste, fire, personal, read_only = MATRIX[role]
    body = server.gql(VIEWS, seeded, role=role)
    assert "errors" not in body, body
    d = body["data"]
    assert (d["me"]["role"], d["me"]["readOnly"], d["me"]["sessPersonal"]) == (
        role, read_only, personal)
    listed = {e["node"]["id"]: e["node"] for e in d["list"]["edges"]}
    assert (seeded["plate"] in listed, seeded["waste"] in listed, seeded["fire"] in listed) == (
        plate, waste, fire)
    assert (d["plate"] is not None, d["waste"] is not None, d["fire"] is not None) == (
        plate, waste, fire)
    assert (d["plateHistory"] is not None) == plate
    if plate:
        opened, evidence = d["plateHistory"]["events"][0], [
            e for e in d["plateHistory"]["events"] if e["type"] == "EvidenceAdded"]
        assert (d["plate"]["subject"] == {"plate": "A777AA02"}) == personal
        assert ("A777AA02" in d["plate"]["key"]) == personal
        assert ("A777AA02" in listed[seeded["plate"]]["key"]) == personal
        assert d["plate"]["personalMasked"] is not personal
        assert ("subject" in opened["details"]) == personal
        assert all(("snapshots" in e["details"]) == personal for e in evidence)
