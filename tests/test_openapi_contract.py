"""The HTTP API against its own OpenAPI schema: schemathesis generates requests, every answer must conform."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.result import Ok

from bot.app import create_app
from tests.conftest import GatewayFactory
from tests.servers import serve


def test_every_answer_conforms_to_the_schema(gateways: GatewayFactory) -> None:
    gateway = gateways.build()
    with serve(create_app(gateway.settings, gateway.service)) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        results = list(schema.get_all_operations())
        operations = [result.ok() for result in results if isinstance(result, Ok)]
        assert len(operations) == len(results), "the schema has operations schemathesis cannot read"
        assert {op.path for op in operations} >= {"/v1/triage", "/healthz", "/metrics"}
        # Driven through hypothesis directly: the same generated cases and checks as schemathesis' own runner.
        cases = st.one_of(*(op.as_strategy() for op in operations))

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=cases)
        def conforms(case: Case) -> None:
            # Some rules are the server's and cannot all be said in JSON Schema: a verdict's (an override
            # must change a label, `by` must name someone) and a text's (nothing left once control
            # characters are cleaned, such as a lone NEL), and a change's (its time may not be in the future,
            # its URL must be http(s)). Their 422s are right, not a mismatch.
            server_rules = case.operation.path.endswith("/feedback") or case.operation.path in (
                "/v1/triage", "/v1/events/change"
            )
            excluded = [positive_data_acceptance] if server_rules else None
            case.call_and_validate(base_url=url, excluded_checks=excluded)

        conforms()
