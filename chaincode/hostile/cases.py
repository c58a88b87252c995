"""Hostile calls for every entry point a router serves, generated from the router itself.

Every function the router dispatches to is found through the router, and every case is built
from that function's :class:`Schema`, so a new contract function is covered the day it is
added, with no table to update. A case is a mostly valid call with one thing wrong (so it
reaches the logic behind validation), a fully valid call (the happy path, by any caller), a
malformed invocation (the raw bytes the peer hands the router), or, for functions that read
the transient map, a hostile transient value. Callers range over every role a channel member
can have. Everything is drawn from ``random.Random(seed)``: a seed and a router give the same
cases every time.

``Hints`` say what makes sense on a particular ledger (which study exists, which round is
open, the complete calls the protocol expects next); without hints cases are still valid as
far as each field's declared kind allows.
"""

from __future__ import annotations

import inspect
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from chaincode.hostile import transient as transient_values
from chaincode.hostile.raw import LIMIT_TAGS, RAW_TAGS, limit_object, raw_invocation
from chaincode.hostile.values import Pairs, Raw, Variant, hostile, passes, synthesize, to_bytes, to_json
from chaincode.runtime.contract import Router, TransactionSpec
from chaincode.runtime.identity import ClientIdentity
from chaincode.runtime.schema import Field

HOSPITALS = ("HospitalAMSP", "HospitalBMSP", "HospitalCMSP")
REGULATOR = "RegulatorMSP/client"
OUTSIDER = "IntruderMSP/admin"
HOSPITAL_ROLES = ("admin", "client", "peer", "no-ou")
# how often each kind of case is drawn; the happy path and one-field changes dominate because
# they are what reaches contract logic
MIX = (("valid", 20), ("field", 42), ("structure", 9), ("raw", 11), ("limit", 6), ("transient", 12))
DELAYS_MS = (0,) * 12 + (3_600_000, 31 * 86_400_000, -86_400_000)
TRANSIENT_NAMES = ("credential", "revocation", "value")


@dataclass(frozen=True)
class Call:
    """A complete, valid call the protocol expects on some ledger (its next legitimate step)."""

    args: Mapping[str, Any]
    caller: str | None = None
    transient: Mapping[str, bytes] | None = None


@dataclass
class Hints:
    """What makes sense on one ledger: values per field name, complete calls per function."""

    fields: dict[str, list[Any]] = field(default_factory=dict)
    calls: dict[str, list[Call]] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """One invocation: exactly the bytes and identity a hostile client can control."""

    function: str  # the entry point the case was built for (raw cases may send another name)
    caller: str  # a role name from :func:`caller_roles`
    args: tuple[bytes, ...]  # the invocation's arguments as the peer passes them to the router
    transient: Mapping[str, bytes]
    kind: str  # category/tag, e.g. "field:study_id:text:bidi-override", "raw:deep-arrays-5000"
    description: str
    submit: bool  # the entry point is a transaction (False: a query)
    delay_ms: int = 0  # added to the ledger's clock for this call (deadline paths)

    @property
    def arg_bytes(self) -> int:
        return sum(len(a) for a in self.args) + sum(len(v) for v in self.transient.values())


# --- callers ------------------------------------------------------------------------------------
def caller_roles(hospitals: Sequence[str] = HOSPITALS) -> list[str]:
    """Every caller role: per hospital its admin, client, peer and an identity with no NodeOU,
    the Regulator's client, and an admin of an org that is not in the consortium."""
    return [f"{m}/{role}" for m in hospitals for role in HOSPITAL_ROLES] + [REGULATOR, OUTSIDER]


def identities(hospitals: Sequence[str] = HOSPITALS) -> dict[str, ClientIdentity]:
    """A certificate per caller role (throwaway keys; contracts see MSP ID and NodeOU)."""
    from chaincode.runtime.testing import make_identity

    out = {}
    for role in caller_roles(hospitals):
        msp_id, ou = role.split("/")
        if ou != "no-ou":
            out[role] = make_identity(msp_id, ou)
            continue
        try:  # a certificate without any OU, as an MSP without NodeOUs issues
            out[role] = make_identity(msp_id, None)  # type: ignore[arg-type]
        except (TypeError, ValueError):  # a make_identity that needs an OU: one that is no NodeOU
            out[role] = make_identity(msp_id, "research")
    return out


def msp_of(role: str) -> str:
    return role.split("/", 1)[0]


# --- entry points -------------------------------------------------------------------------------
def entry_points(router: Router) -> dict[str, TransactionSpec]:
    """Every function the router dispatches to, with its spec (schema, submit or query)."""
    return {name: router._table[name][0] for name in router.functions}


@cache
def _module_transient_names(module_name: str) -> tuple[str, ...] | None:
    import sys

    module = sys.modules.get(module_name)
    try:
        source = inspect.getsource(module) if module else ""
    except (OSError, TypeError):
        return None
    if ".transient" not in source:
        return None
    found = re.findall(r"transient\.get\(\s*[\"']([^\"']+)[\"']", source)
    found += re.findall(r"_transient\w*\(\s*\w+\s*,\s*[\"']([^\"']+)[\"']", source)
    return tuple(sorted(set(found))) or TRANSIENT_NAMES


def transient_names(router: Router, function: str) -> tuple[str, ...] | None:
    """The transient keys a function's module reads (None when it reads no transient map)."""
    fn = router._table[function][1]
    return _module_transient_names(getattr(fn, "__module__", ""))


# --- one function's cases -----------------------------------------------------------------------
class _Plan:
    """How to build cases for one entry point: its fields, valid values, and complete calls."""

    def __init__(self, router: Router, name: str, spec: TransactionSpec, hints: Hints, rng: random.Random) -> None:
        self.name = name
        self.spec = spec
        self.fields: Mapping[str, Field] = spec.schema.fields
        self.calls = [c for c in hints.calls.get(name, []) if self._call_passes(c)]
        self.hinted: dict[str, list[Any]] = {}
        self.made: dict[str, list[Any]] = {}
        for fname, f in self.fields.items():
            self.hinted[fname] = [v for v in hints.fields.get(fname, []) if passes(f, v)]
            made = [synthesize(f, rng) for _ in range(3)]
            self.made[fname] = [v for v in made if v is not None and passes(f, v)]
        self.transient = transient_names(router, name)
        for call in self.calls:
            if call.transient and self.transient is not None:
                self.transient = tuple(sorted(set(self.transient) | set(call.transient)))

    def _call_passes(self, call: Call) -> bool:
        return all(n in self.fields for n in call.args)

    def base(self, rng: random.Random) -> tuple[dict[str, Any], str | None, Mapping[str, bytes]]:
        """Valid arguments (a hinted complete call when there is one), its caller and transient."""
        if self.calls and rng.random() < 0.75:
            call = rng.choice(self.calls)
            return dict(call.args), call.caller, dict(call.transient or {})
        args = {}
        for fname, f in self.fields.items():
            if not f.required and rng.random() < 0.5:
                continue
            hinted, made = self.hinted[fname], self.made[fname]
            options = hinted if hinted and (rng.random() < 0.8 or not made) else made
            args[fname] = rng.choice(options) if options else None
        return args, None, {}


def _describe(args: Any, limit: int = 160) -> str:
    text = to_json(args) if not isinstance(args, bytes) else repr(args[:limit])
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def _structure_variants(plan: _Plan, args: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = [("empty-object", {}), ("extra-field", {**args, "extra": 1}),
                                  ("extra-empty-name", {**args, "": 1}), ("extra-proto", {**args, "__proto__": {}}),
                                  ("extra-surrogate-name", {**args, "\ud800": 1}), ("args-as-list", [args]),
                                  ("args-nested", {"args": args})]  # fmt: skip
    for name, f in plan.fields.items():
        if name in args:
            out.append((f"missing:{name}" if f.required else f"omitted-optional:{name}",
                        {k: v for k, v in args.items() if k != name}))  # fmt: skip
            out.append((f"duplicate-key-last-valid:{name}", Pairs((*((k, v) for k, v in args.items()), (name, None)))))
            out.append((f"duplicate-key-first-valid:{name}", Pairs(((name, None), *args.items()))))
            out.append((f"case-folded-name:{name}", {**{k: v for k, v in args.items() if k != name},
                                                     name.upper(): args[name]}))  # fmt: skip
    return out


class Generator:
    """Cases for every entry point of one router on one ledger (see :func:`cases`)."""

    def __init__(self, router: Router, seed: int, hints: Hints | None = None,
                 hospitals: Sequence[str] = HOSPITALS) -> None:  # fmt: skip
        self.rng = random.Random(seed)
        self.router = router
        self.roles = caller_roles(hospitals)
        hints = hints or Hints()
        self.plans = [_Plan(router, n, s, hints, self.rng) for n, s in entry_points(router).items()]
        self._kinds = [k for k, _ in MIX]
        self._weights = [w for _, w in MIX]

    def _caller(self, preferred: str | None) -> str:
        if preferred and self.rng.random() < 0.7:
            return preferred
        roll = self.rng.random()
        hospital_roles = [r for r in self.roles if r not in (REGULATOR, OUTSIDER)]
        if roll < 0.08:
            return REGULATOR
        if roll < 0.14:
            return OUTSIDER
        admins_clients = [r for r in hospital_roles if r.endswith(("/admin", "/client"))]
        return self.rng.choice(admins_clients if roll < 0.9 else hospital_roles)

    def case(self, plan: _Plan) -> Case:
        rng = self.rng
        args, preferred, transient = plan.base(rng)
        caller = self._caller(preferred)
        kind = rng.choices(self._kinds, self._weights)[0]
        if kind == "transient" and plan.transient is None and rng.random() < 0.85:
            kind = "field"
        if kind == "field" and not plan.fields:
            kind = "structure"
        fn = plan.name.encode()
        delay = rng.choice(DELAYS_MS)

        def make(tag: str, raw: tuple[bytes, ...], desc: str, extra: Mapping[str, bytes] | None = None) -> Case:
            return Case(plan.name, caller, raw, dict(transient if extra is None else extra), tag, desc,
                        plan.spec.submit, delay)  # fmt: skip

        if kind == "valid":
            return make("valid", (fn, to_bytes(args, ascii_only=rng.random() < 0.5)), f"valid call {_describe(args)}")
        if kind == "field":
            name = rng.choice(list(plan.fields))
            variant = rng.choice(hostile(plan.fields[name], args.get(name), rng))
            changed = {**args, name: variant.value}
            return make(f"field:{name}:{variant.tag}", (fn, to_bytes(changed, ascii_only=rng.random() < 0.8)),
                        f"{name} = {_describe(variant.value, 80)} in {_describe(changed)}")  # fmt: skip
        if kind == "structure":
            tag, value = rng.choice(_structure_variants(plan, args))
            return make(f"structure:{tag}", (fn, to_bytes(value)), f"{tag}: {_describe(value)}")
        if kind == "raw":
            tag = rng.choice(RAW_TAGS)
            raw = raw_invocation(tag, fn, to_bytes(args), next(iter(plan.fields), None))
            sizes = [len(a) for a in raw][:4]
            desc = f"{tag}: {len(raw)} args of {sizes} bytes, {_describe(raw[1] if len(raw) > 1 else b'')}"
            return make(tag if tag.startswith("limit:") else f"raw:{tag}", raw, desc)
        if kind == "limit":
            tag = rng.choice(LIMIT_TAGS)
            raw_obj = limit_object(tag, plan.fields, args)
            return make(f"limit:{tag}", (fn, raw_obj), f"{tag}: {len(raw_obj)} bytes from {_describe(args)}")
        return self._transient_case(plan, args, caller, make)

    def _transient_case(self, plan: _Plan, args: dict[str, Any], caller: str, make: Any) -> Case:
        rng = self.rng
        names = plan.transient or TRANSIENT_NAMES
        grantee = msp_of(caller)
        variants = transient_values.cheap_variants(grantee, rng)
        if rng.random() < 0.06:
            variants = transient_values.credential_variants(grantee, rng)
        genuine = [v for c in plan.calls for v in (c.transient or {}).values()]
        if genuine and rng.random() < 0.5:
            variants = transient_values.mutations(rng.choice(genuine), rng)
        variant: Variant = rng.choice(variants)
        roll = rng.random()
        if roll < 0.8:
            name = rng.choice(names)
            transient = {name: variant.value}
        elif roll < 0.9:
            name = rng.choice(("Credential", "", "credential\x00", "\u202ecredential"))
            transient = {name: variant.value}
        else:
            name = "<1000 keys>"
            transient = {f"k{i}": b"x" for i in range(1000)} | {rng.choice(names): variant.value}
        tag = variant.tag if variant.tag.startswith("limit:") else f"transient:{variant.tag}"
        raw = (plan.name.encode(), to_bytes(args))
        return make(tag, raw, f"transient[{name!r}] = {_describe(variant.value, 80)} ({len(variant.value)} bytes)",
                    transient)  # fmt: skip

    def sweep(self, plan: _Plan, *, limits_only: bool = False) -> Iterator[Case]:
        """Every variant for one entry point, each once, around one valid call: every hostile
        value of every field, every structural change, every malformed invocation, the argument
        object at its 256 KB limit in each way and, for transient readers, every transient value
        under every name it reads. ``limits_only`` keeps the size-limit cases alone (the costly
        ones, for measuring the worst case)."""
        args, preferred, transient = plan.base(self.rng)
        fn = plan.name.encode()

        def make(tag: str, raw: tuple[bytes, ...], desc: str, extra: Mapping[str, bytes] | None = None) -> Case:
            return Case(plan.name, self._caller(preferred), raw, dict(transient if extra is None else extra), tag,
                        desc, plan.spec.submit)  # fmt: skip

        def wanted(tag: str) -> bool:
            return not limits_only or tag.startswith("limit:")

        for name, f in plan.fields.items():
            for variant in hostile(f, args.get(name), self.rng):
                if wanted(variant.tag):
                    changed = {**args, name: variant.value}
                    yield make(f"field:{name}:{variant.tag}", (fn, to_bytes(changed)),
                               f"{name} = {_describe(variant.value, 80)} in {_describe(changed)}")  # fmt: skip
        for tag in LIMIT_TAGS:
            raw_obj = limit_object(tag, plan.fields, args)
            yield make(f"limit:{tag}", (fn, raw_obj), f"{tag}: {len(raw_obj)} bytes from {_describe(args)}")
        if not limits_only:
            for tag, value in _structure_variants(plan, args):
                yield make(f"structure:{tag}", (fn, to_bytes(value)), f"{tag}: {_describe(value)}")
        for tag in RAW_TAGS:
            if wanted(tag):
                raw = raw_invocation(tag, fn, to_bytes(args), next(iter(plan.fields), None))
                sizes = [len(a) for a in raw][:4]
                yield make(tag if tag.startswith("limit:") else f"raw:{tag}", raw, f"{tag}: args of {sizes} bytes")
        if plan.transient is None:
            return
        grantee = msp_of(preferred or self.roles[0])
        genuine = [v for c in plan.calls for v in (c.transient or {}).values()]
        variants = transient_values.credential_variants(grantee, self.rng)
        variants += transient_values.cheap_variants(grantee, self.rng)
        if genuine:
            variants += transient_values.mutations(genuine[0], self.rng)
        for variant in variants:
            if wanted(variant.tag):
                tag = variant.tag if variant.tag.startswith("limit:") else f"transient:{variant.tag}"
                for name in plan.transient:
                    yield make(tag, (fn, to_bytes(args)), f"transient[{name!r}] = {_describe(variant.value, 80)} "
                               f"({len(variant.value)} bytes)", {**transient, name: variant.value})  # fmt: skip


def sweep_cases(router: Router, seed: int, hints: Hints | None = None, *, limits_only: bool = False,
                hospitals: Sequence[str] = HOSPITALS) -> Iterator[Case]:  # fmt: skip
    """Every variant for every entry point, each once (see :meth:`Generator.sweep`)."""
    gen = Generator(router, seed, hints, hospitals)
    for plan in gen.plans:
        yield from gen.sweep(plan, limits_only=limits_only)


def cases(router: Router, seed: int, n: int, hints: Hints | None = None,
          hospitals: Sequence[str] = HOSPITALS) -> Iterator[Case]:  # fmt: skip
    """``n`` cases, round-robin over every entry point of ``router`` (so each gets n / functions),
    deterministic for a given seed, router and hints."""
    gen = Generator(router, seed, hints, hospitals)
    for i in range(n):
        yield gen.case(gen.plans[i % len(gen.plans)])


__all__ = ["Call", "Case", "Hints", "Raw", "caller_roles", "cases", "entry_points", "identities", "sweep_cases"]
