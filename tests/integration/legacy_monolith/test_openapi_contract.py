"""The monolith's OpenAPI tells the truth, checked by a client no one here wrote.

Real parts, started as ``strangler up`` starts them: the session's
PostgreSQL, the monolith migrated and seeded with 2,000 sales under
gunicorn, and the strangler proxy in front (every route ``legacy``).
schemathesis' CLI then reads ``/api/schema/`` *through the proxy* and runs
every check (``--checks all``) over the examples, coverage and fuzzing
phases with the demo player's token: status codes, content types and bodies
must be the documented ones, schema-valid input accepted, schema-violating
input refused, and nothing may answer 5xx.

The only narrowing is per operation and explained in
``openapi_support._POSITIVE_DATA_ACCEPTANCE_400``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openapi_support import MonolithBehindProxy, monolith_behind_proxy, run_schemathesis

pytestmark = pytest.mark.slow

SEED = 20261201  # fixed: a failure replays the same cases
MAX_EXAMPLES = 30  # per operation in the fuzzing phase; keeps the run near a minute on 2 cores


@pytest.fixture(scope="module")
def stack(postgres_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MonolithBehindProxy]:
    with monolith_behind_proxy(postgres_server, tmp_path_factory.mktemp("openapi-stack"), sales=2000) as running:
        yield running


def test_schema_through_the_proxy_keeps_its_operation_ids(stack: MonolithBehindProxy) -> None:
    """Other code (the migration plan, the new services' contracts) names
    operations by id and the rate/history paths by template."""
    response = httpx.get(stack.schema_url, headers={"Accept": "application/json"}, timeout=30)
    assert response.status_code == 200, response.text
    schema = response.json()
    ids = {op["operationId"]: (path, method) for path, item in schema["paths"].items() for method, op in item.items()}
    assert ids["items_rate"] == ("/api/items/{item_id}/rate/", "get")
    assert ids["items_history"] == ("/api/items/{item_id}/history/", "get")
    assert {
        "items_list",
        "items_retrieve",
        "listings_list",
        "listings_create",
        "listings_cancel",
        "sales_list",
        "sales_create",
        "players_register",
        "players_retrieve",
    } <= set(ids)
    items_list = schema["paths"]["/api/items/"]["get"]
    assert items_list["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PaginatedItemOutputList"
    }
    assert {"limit", "offset"} <= {p["name"] for p in items_list["parameters"]}


def test_schemathesis_finds_nothing_through_the_proxy(stack: MonolithBehindProxy, tmp_path: Any) -> None:
    result = run_schemathesis(
        stack.schema_url,
        token=stack.demo_token,
        report_dir=tmp_path,
        args=[
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--workers",
            "2",
            "--request-timeout",
            "30",
        ],
    )
    output = f"{result.stdout}\n{result.stderr}"
    print(output)  # shown by pytest on failure
    assert result.returncode == 0, (
        f"schemathesis found the OpenAPI untrue (exit {result.returncode}):\n{output}\n{stack.log_tails()}"
    )
    selected = re.search(r"Selected: (\d+)/(\d+)", result.stdout)
    tested = re.search(r"Tested: (\d+)", result.stdout)
    assert selected and tested, result.stdout
    # every operation of the schema was selected and reached through the proxy
    assert int(tested.group(1)) == int(selected.group(1)) == int(selected.group(2)) >= 11, result.stdout


@pytest.mark.django_db
def test_registration_refuses_an_overlong_email_instead_of_crashing(api: Any) -> None:
    """Found while making the schema true: an address longer than the
    254-character column passed the serializer and crashed the insert (500)."""
    email = f"{'a' * 60}@{'b' * 63}.{'c' * 63}.{'d' * 63}.com"
    assert len(email) > 254
    response = api.post(
        "/api/players/", {"name": "long_mail", "password": "correct horse", "email": email}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "email" in response.json()
