"""Hostile input as a tested property: thousands of generated calls against every entry point the
router serves, in every phase of the protocol, by every kind of caller.

Each call must be answered 200 or refused 400/403/404/409 (never a 5xx, never an exception out
of the router); a refusal must leave no trace; a query must not write; after any success the
ledger's invariants hold (chaincode/hostile/check.py). The calls come from the router
itself (chaincode/hostile/cases.py), so a new contract function is covered without
touching this file; ``fedledger bench hostile`` runs the same cases and measures their CPU time.
"""

from __future__ import annotations

import base64
import collections
import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from chaincode.contracts import all_contracts
from chaincode.hostile.cases import Case, Generator, cases, identities, sweep_cases
from chaincode.hostile.check import Checker, Outcome, cause, quiet_router, refusal_changed_state
from chaincode.hostile.consent import VcIssuer
from chaincode.hostile.phases import Phase, VerifyingKey, build_phases, served_router
from chaincode.runtime.contract import Contract, Router, query, transaction
from chaincode.runtime.errors import Conflict
from chaincode.runtime.schema import Field, Int, Schema, Str
from chaincode.runtime.stub import Stub
from chaincode.runtime.testing import InMemoryLedger

CASES = 8_000  # random cases, spread evenly over the phases (the phases in SWEPT add a sweep)
# every variant of every function once on the ledger with the most round states; the size
# limits once more where genuine consent credentials exist (padded to each limit)
SWEPT = {"rounds-committed": False, "consents": True}
SEED = 20260101
CPU_BUDGET_S = 90
CIRCUIT = "logreg-d2-b4"


def dev_verifying_key(directory: Path) -> VerifyingKey | None:
    """A one-party key for the audited phases (None when fedledger-zk is not installed)."""
    from agent.zk import binary

    try:
        binary.dev_setup(CIRCUIT, directory / "pk", directory / "vk")
    except binary.ZkError:
        return None
    return VerifyingKey(CIRCUIT, base64.b64encode((directory / "vk").read_bytes()).decode())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Router, Checker, list[Phase]]:
    router = served_router()
    ids = identities()
    key = dev_verifying_key(tmp_path_factory.mktemp("hostile-zk"))
    phases = build_phases(router, ids, verifying_key=key, consent=VcIssuer())
    assert key is None or any(p.states.get("audited-study") == "PROVE" for p in phases)
    assert set(SWEPT) <= {p.name for p in phases}
    return router, Checker(router, ids), phases


def _report(failures: list[tuple[str, Case, Outcome]], examples: int = 3) -> str:
    """Failures grouped by cause; per cause the functions hit and a few complete examples."""
    groups: dict[str, list[tuple[str, Case, Outcome]]] = collections.defaultdict(list)
    for item in failures:
        groups[cause(item[2])].append(item)
    lines = [f"{len(failures)} hostile calls broke a property, {len(groups)} distinct causes:"]
    for name, items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        functions = sorted({case.function for _, case, _ in items})
        lines.append(f"* {name} [{len(items)} calls, {len(functions)} functions: {', '.join(functions)[:300]}]")
        for phase, case, outcome in items[:examples]:
            lines.append(f"    - {case.function} phase={phase} caller={case.caller} kind={case.kind}")
            lines.append(f"      input: {case.description[:200]}")
            lines.append(f"      problems: {'; '.join(outcome.problems)[:300]}")
    return "\n".join(lines)


def test_hostile_calls_are_refused_cleanly_and_keep_the_invariants(world: Any) -> None:
    router, checker, phases = world
    per_phase = CASES // len(phases) + 1
    failures: list[tuple[str, Case, Outcome]] = []
    statuses: collections.Counter[int] = collections.Counter()
    cpu = time.process_time()
    with quiet_router():
        for i, phase in enumerate(phases):
            generated = cases(router, SEED + i, per_phase, phase.hints)
            if phase.name in SWEPT:
                swept = sweep_cases(router, SEED + i, phase.hints, limits_only=SWEPT[phase.name])
                generated = itertools.chain(generated, swept)
            for case in generated:
                outcome = checker.run(phase, case)
                statuses[outcome.status] += 1
                if outcome.problems:
                    failures.append((phase.name, case, outcome))
    cpu = time.process_time() - cpu  # CPU, not wall time: other work on the machine does not count
    if failures:
        pytest.fail(_report(failures), pytrace=False)
    assert sum(statuses.values()) >= 10_000
    assert statuses[200] >= 500, f"too few calls got through to contract logic: {dict(statuses)}"
    assert cpu < CPU_BUDGET_S, f"{sum(statuses.values())} cases took {cpu:.0f} s of CPU"


class _Tiny(Contract):
    name = "Tiny"

    @transaction(Schema({"word": Str(max_len=8, pattern=r"[a-z]+"), "n": Int(0, 5)}))
    def Echo(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        stub.put_json(stub.create_composite_key("tiny", [args["word"]]), {"n": args["n"]})
        return {"word": args["word"] * args["n"]}


def test_a_new_contract_function_is_covered_without_touching_the_generator() -> None:
    router = Router([*all_contracts(), _Tiny()])
    generated = [c for c in cases(router, 1, 1500) if c.function == "Tiny:Echo"]
    kinds = {c.kind.split(":")[0] for c in generated}
    assert len(generated) >= 1500 // len(router.functions)
    assert {"valid", "field", "structure", "raw"} <= kinds, kinds
    assert {c.kind.split(":")[1] for c in generated if c.kind.startswith("field:")} == {"word", "n"}
    gen = Generator(router, 1)
    swept = list(gen.sweep(next(plan for plan in gen.plans if plan.name == "Tiny:Echo")))
    assert {"n:int:5000-digits", "word:text:bidi-override"} <= {c.kind[6:] for c in swept}
    generated += swept
    ids = identities()
    checker = Checker(router, ids)
    phase = Phase("empty", InMemoryLedger(), 1_767_225_600_000, hints=None)  # type: ignore[arg-type]
    with quiet_router():
        outcomes = [checker.run(phase, c) for c in generated]
    assert all(not o.problems for o in outcomes), [o.problems for o in outcomes if o.problems][:3]
    assert any(o.status == 200 for o in outcomes) and any(o.status == 400 for o in outcomes)


class _Words(Field):
    def check(self, name: str, value: Any) -> list[str]:
        return [Str().check(name, v) for v in value] if isinstance(value, list) else []


class _Broken(Contract):
    """Each function breaks one property the checker must notice."""

    name = "Broken"
    SEEN = Schema({"seen": _Words(required=False, default=[])})

    @transaction()
    def Crash(self, stub: Stub, args: dict[str, Any]) -> None:
        raise KeyError("missing")

    @query()
    def WritingQuery(self, stub: Stub, args: dict[str, Any]) -> None:
        stub.put_json("note", {"written": True})

    @transaction()
    def Counterfeit(self, stub: Stub, args: dict[str, Any]) -> None:
        stub.put_json(stub.create_composite_key("token", ["account", "HospitalAMSP"]),
                      {"balance": 5, "staked": 0, "locked": 1})  # fmt: skip

    @transaction(SEEN)
    def RememberThenRefuse(self, stub: Stub, args: dict[str, Any]) -> None:
        args["seen"].append(stub.tx_id)  # the schema's shared default list
        raise Conflict("refused after touching shared state")


def test_the_checker_flags_every_property_it_claims_to_check() -> None:
    router = Router([_Broken()])
    checker = Checker(router, identities())
    phase = Phase("empty", InMemoryLedger(), 1_767_225_600_000, hints=None)  # type: ignore[arg-type]

    def problems(function: str) -> tuple[Outcome, str]:
        case = Case(
            function, "HospitalAMSP/admin", (function.encode(),), {}, "valid", "", function != "Broken:WritingQuery"
        )
        with quiet_router():
            outcome = checker.run(phase, case)
        return outcome, " | ".join(outcome.problems)

    outcome, text = problems("Broken:Crash")
    assert outcome.status == 500 and "KeyError" in text
    assert "a query wrote" in problems("Broken:WritingQuery")[1]
    text = problems("Broken:Counterfeit")[1]
    assert "not conserved" in text and "broke its invariant" in text
    outcome, text = problems("Broken:RememberThenRefuse")
    assert outcome.status == 409 and refusal_changed_state(outcome), text
