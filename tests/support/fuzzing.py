"""Schemathesis fuzzing of one published operation, shared by the API's fuzz tests."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

FUZZ_KEY = "fuzz-key-0123456789abcdef"  # the key the fuzzed apps accept


def fuzz_operation(
    api_schema: schemathesis.BaseSchema, method: str, path: str, max_examples: int
) -> None:
    """Generate ``max_examples`` requests from one operation's schema, send them with the fuzz
    key, and check each answer against the published schema (no 5xx, right status, type,
    body, headers)."""
    # schemathesis's pytest plugin does not run under this pytest; hypothesis directly does
    # the same thing: generate cases from the operation's schema, call, check the answer.
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {FUZZ_KEY}"},
            # The schema can say "a binary file", not "decodable speech": schema-valid random
            # bytes get the documented 422, which this one check would count as a failure.
            excluded_checks=[positive_data_acceptance],
        )

    check()
