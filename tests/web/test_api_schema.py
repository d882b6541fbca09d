"""schemathesis drives every operation of /api/v1/openapi.json against the app: no server
errors, and every answer matches the document (status, content type, body schema)."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from mirror.web.openapi import document

# Some schema-valid requests are rightly refused with 400: a PEP 440 specifier or a release
# state ("nothing to approve") cannot be expressed in JSON Schema. Every other check runs.


# The plugin's lazy fixture loader does not run under this pytest, so each operation's
# strategy is driven by hypothesis directly (schemathesis' Python API).
@pytest.mark.parametrize("anonymous_read", [False, True])
def test_api_matches_its_openapi_document(make_app, anonymous_read: bool) -> None:
    app, _backends, made = make_app(auth={"anonymous_read": anonymous_read})
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(methods) for methods in document()["paths"].values())
    for operation in operations:
        for kind in ("admin", "read"):
            _fuzz(operation, made.bearer(kind))


def _fuzz(operation: schemathesis.APIOperation, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    check()


def test_document_is_served_and_lists_every_route(open_) -> None:
    client, _backends, _made = open_
    served = client.get("/api/v1/openapi.json").get_json()
    assert served == document()
    routes = {
        rule.rule.replace("<", "{").replace(">", "}")
        for rule in client.application.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and rule.endpoint != "api.openapi"
    }
    assert routes == set(served["paths"])
