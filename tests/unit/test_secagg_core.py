"""The secure-aggregation core: field encoding, Shamir t-of-k, masks that cancel in the sum,
dropout recovery, and what a single party sees."""

from __future__ import annotations

import os

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import x25519
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.secagg import field, shamir
from agent.secagg.masking import mask, pairwise_seed, unmask_sum

CTX = "study-1/round-0"


def _participants(names: list[str]) -> dict[str, x25519.X25519PrivateKey]:
    return {n: x25519.X25519PrivateKey.generate() for n in names}


def _seeds(keys: dict[str, x25519.X25519PrivateKey], me: str, among: list[str]) -> dict[str, bytes]:
    return {o: pairwise_seed(keys[me], keys[o].public_key(), me, o, CTX) for o in among if o != me}


@given(st.lists(st.floats(-1000, 1000, allow_nan=False), min_size=1, max_size=50))
def test_fixed_point_round_trips_within_its_bound(values: list[float]) -> None:
    x = np.array(values)
    assert np.max(np.abs(field.decode(field.encode(x), len(x)) - x)) <= 2**-17 + 1e-12


@given(st.lists(st.integers(0, field.P - 1), max_size=40), st.lists(st.integers(0, field.P - 1), max_size=40))
def test_limb_arithmetic_is_arithmetic_modulo_the_field_order(xs: list[int], ys: list[int]) -> None:
    n = min(len(xs), len(ys))
    a, b = field.from_ints([*xs[:n], 0, field.P - 1]), field.from_ints([*ys[:n], field.P - 1, field.P - 1])
    assert field.ints(field.add(a, b)) == [(x + y) % field.P for x, y in zip(field.ints(a), field.ints(b), strict=True)]
    assert field.ints(field.sub(a, b)) == [(x - y) % field.P for x, y in zip(field.ints(a), field.ints(b), strict=True)]


@given(st.lists(st.floats(-1000, 1000, allow_nan=False), min_size=1, max_size=40))
def test_packing_is_32_bytes_per_six_coordinates_and_refuses_other_bytes(values: list[float]) -> None:
    v = field.encode(np.array(values))
    raw = field.to_bytes(v)
    assert len(raw) == 32 * (-(-len(values) // 6))
    assert np.array_equal(field.from_bytes(raw, len(values)), v)
    for bad in (raw + b"x", raw[:-1]):
        with pytest.raises(field.FieldError):
            field.from_bytes(bad, len(values))
    with pytest.raises(field.FieldError):  # an element at or above the field order
        field.from_bytes(field.P.to_bytes(32, "little") + raw[32:], len(values))


def test_sums_of_the_most_terms_at_the_bound_still_decode() -> None:
    x = np.array([field.MAX_ABS, -field.MAX_ABS, 0.5, -0.25, 3.0, field.MAX_ABS, -1.5])
    total = field.encode(x)
    for _ in range(field.MAX_TERMS - 1):
        total = field.add(total, field.encode(x))
    assert np.allclose(field.decode(total, len(x)), x * field.MAX_TERMS)
    negated = field.sub(field.from_ints([0] * len(total)), total)  # -sum decodes to -sum
    assert np.allclose(field.decode(negated, len(x)), -x * field.MAX_TERMS)


def test_encoding_refuses_nan_and_out_of_bound_values() -> None:
    for bad in (np.array([np.nan]), np.array([np.inf]), np.array([field.MAX_ABS + 1])):
        with pytest.raises(field.FieldError):
            field.encode(bad)


def test_expanded_masks_are_canonical_deterministic_and_label_separated() -> None:
    seed = os.urandom(32)
    m = field.expand(seed, 5000, b"a")
    assert np.array_equal(m, field.expand(seed, 5000, b"a"))
    assert np.array_equal(m[:100], field.expand(seed, 100, b"a"))  # a prefix does not depend on n
    assert not np.array_equal(m[:100], field.expand(seed, 100, b"b"))
    assert max(field.ints(m)) < field.P and len(set(field.ints(m))) == 5000


@settings(max_examples=30)
@given(st.binary(min_size=32, max_size=32), st.integers(1, 6), st.integers(0, 4))
def test_any_t_shares_reconstruct_and_tampering_is_caught(secret: bytes, t: int, extra: int) -> None:
    k = t + extra
    shares = shamir.split(secret, t, k)
    rng = np.random.default_rng(int.from_bytes(secret[:4], "big"))
    chosen = [shares[i] for i in rng.choice(k, size=t, replace=False)]
    committed = shamir.commitment(secret)
    assert shamir.reconstruct_checked(chosen, committed) == secret
    assert shamir.Share.from_bytes(chosen[0].to_bytes()) == chosen[0]
    tampered = [shamir.Share(chosen[0].x, (chosen[0].y + 1) % shamir.Q), *chosen[1:]]
    with pytest.raises(ValueError, match="committed secret"):
        shamir.reconstruct_checked(tampered, committed)
    if t > 1:
        with pytest.raises(ValueError, match="committed secret"):  # t - 1 shares are not enough
            shamir.reconstruct_checked(chosen[1:], committed)


def test_t_minus_1_shares_are_consistent_with_every_secret() -> None:
    """Information-theoretic: for t-1 observed shares and ANY candidate secret there is exactly
    one degree t-1 polynomial through them, so the observer learns nothing."""
    t, k = 3, 5
    secret = os.urandom(32)
    seen = shamir.split(secret, t, k)[: t - 1]
    for candidate in (bytes(32), b"\xff" * 32, os.urandom(32)):
        completed = [*seen, shamir.Share(0, int.from_bytes(candidate, "big"))]  # the point x=0 is the secret
        extra = shamir.Share(k + 1, _interpolate(completed, k + 1))
        assert shamir.reconstruct([*seen, extra]) == candidate


def _interpolate(points: list[shamir.Share], x: int) -> int:
    total = 0
    for i, pi in enumerate(points):
        num, den = 1, 1
        for j, pj in enumerate(points):
            if i != j:
                num = num * (x - pj.x) % shamir.Q
                den = den * (pi.x - pj.x) % shamir.Q
        total = (total + pi.y * num * pow(den, -1, shamir.Q)) % shamir.Q
    return total


def test_masks_cancel_and_the_sum_is_exact_within_the_fixed_point_bound() -> None:
    names = ["HospitalAMSP", "HospitalBMSP", "HospitalCMSP", "HospitalDMSP"]
    keys = _participants(names)
    rng = np.random.default_rng(1)
    updates = {n: rng.normal(0, 0.1, 1000) for n in names}
    self_seeds = {n: os.urandom(32) for n in names}
    masked = {n: mask(field.encode(updates[n]), n, self_seeds[n], _seeds(keys, n, names)) for n in names}
    total = field.decode(unmask_sum(masked, self_seeds, {}), 1000)
    assert np.max(np.abs(total - sum(updates.values()))) <= len(names) * 2**-17


def test_a_dropout_is_recovered_from_its_key_without_revealing_anyone() -> None:
    names = ["A", "B", "C", "D"]
    keys = _participants(names)
    updates = {n: np.full(10, i + 1.0) for i, n in enumerate(names)}
    self_seeds = {n: os.urandom(32) for n in names}
    masked = {n: mask(field.encode(updates[n]), n, self_seeds[n], _seeds(keys, n, names)) for n in names}
    del masked["C"]  # C masked against the others but its vector never arrived
    # the committee reconstructs C's round key (not its self seed) and recomputes C's pair seeds
    recovered = {("C", s): pairwise_seed(keys["C"], keys[s].public_key(), "C", s, CTX) for s in masked}
    included_seeds = {n: self_seeds[n] for n in masked}
    assert np.allclose(field.decode(unmask_sum(masked, included_seeds, recovered), 10), 1 + 2 + 4)
    with pytest.raises(ValueError):  # never both for one participant: C's self seed is not accepted
        unmask_sum(masked, {**included_seeds, "C": self_seeds["C"]}, recovered)


def test_one_masked_update_looks_the_same_whatever_the_update() -> None:
    """What one committee member (or anyone reading IPFS) sees of a single update: its masked
    vector. With fresh masks it is uniform on the field whether the update is zero or large."""
    names = ["A", "B"]
    rng = np.random.default_rng(0)
    samples = {}
    for label, value in (("zero", 0.0), ("large", 5e5)):
        ys = []
        for _ in range(200):
            keys = _participants(names)
            ys.append(mask(field.encode(np.full(50, value)), "A", os.urandom(32), _seeds(keys, "A", names)))
        samples[label] = np.array([x / field.P for x in field.ints(np.concatenate(ys))])
    # Uniform on [0, 1): mean 1/2, variance 1/12, flat histogram. The bounds are 5 standard
    # deviations of 1 800 uniform draws (mean 0.0068, difference of means 0.0096, bin count 12.7),
    # so a fair mask fails them about once in a million runs and a biased one every time.
    for s in samples.values():
        assert abs(s.mean() - 0.5) < 0.035 and abs(s.var() - 1 / 12) < 0.01
        hist, _ = np.histogram(s, bins=10, range=(0, 1))
        assert hist.min() > len(s) / 10 - 5 * np.sqrt(len(s) * 0.1 * 0.9)
    assert abs(samples["zero"].mean() - samples["large"].mean()) < 0.05
    del rng


# --- the committee's shares ----------------------------------------------------------------------
def _committee(names: list[str]) -> tuple[dict[str, x25519.X25519PrivateKey], dict[str, str]]:
    from agent.keys import public_b64

    keys = {m: x25519.X25519PrivateKey.generate() for m in names}
    return keys, {m: public_b64(k) for m, k in keys.items()}


def test_a_masked_round_with_a_dropout_through_share_bundles() -> None:
    from agent.secagg.shares import deal, open_share, recover, round_key_from, round_public

    participants = ["A", "B", "C", "D"]
    member_keys, committee = _committee(["M1", "M2", "M3"])
    round_keys = {p: x25519.X25519PrivateKey.generate() for p in participants}
    seeds = {p: os.urandom(32) for p in participants}
    bundles = {p: deal(p, round_keys[p], seeds[p], committee, 2, CTX) for p in participants}
    # everyone masks against everyone who dealt shares (the published round public keys)
    updates = {p: np.full(100, float(i + 1)) for i, p in enumerate(participants)}
    masked = {}
    for p in participants:
        pairs = {o: pairwise_seed(round_keys[p], round_public(bundles[o]), p, o, CTX) for o in participants if o != p}
        masked[p] = mask(field.encode(updates[p]), p, seeds[p], pairs)
    del masked["B"]  # B dealt its shares but its masked update never came: excluded on the ledger
    # two members (t = 2) publish: seed shares of the included, key shares of B
    publishing = ["M1", "M3"]
    self_seeds = {
        p: recover(bundles[p], {m: open_share(bundles[p], m, member_keys[m], "seed", CTX) for m in publishing}, "seed")
        for p in masked
    }
    b_key = round_key_from(recover(bundles["B"], {m: open_share(bundles["B"], m, member_keys[m], "key", CTX)
                                                  for m in publishing}, "key"))  # fmt: skip
    dropped = {("B", s): pairwise_seed(b_key, round_public(bundles[s]), "B", s, CTX) for s in masked}
    total = field.decode(unmask_sum(masked, self_seeds, dropped), 100)
    assert np.allclose(total, 1 + 3 + 4)


def test_shares_open_only_for_their_member_and_a_wrong_publication_is_named() -> None:
    from agent.secagg.shares import ShareBundle, WrongShare, deal, open_share, recover
    from agent.storage.keywrap import KeyWrapError

    member_keys, committee = _committee(["M1", "M2", "M3"])
    seed = os.urandom(32)
    bundle = ShareBundle.from_json(deal("A", x25519.X25519PrivateKey.generate(), seed, committee, 2, CTX).to_json())
    with pytest.raises(KeyWrapError):  # M2's key does not open M1's share
        open_share(bundle, "M1", member_keys["M2"], "seed", CTX)
    with pytest.raises(KeyWrapError):  # nor does the right key under another round's context
        open_share(bundle, "M1", member_keys["M1"], "seed", "study-1/round-1")
    with pytest.raises(PermissionError):
        open_share(bundle, "Outsider", x25519.X25519PrivateKey.generate(), "seed", CTX)
    s1 = open_share(bundle, "M1", member_keys["M1"], "seed", CTX)
    s3 = open_share(bundle, "M3", member_keys["M3"], "seed", CTX)
    assert recover(bundle, {"M1": s1, "M3": s3}, "seed") == seed
    liar = shamir.Share(s3.x, (s3.y + 5) % shamir.Q)
    with pytest.raises(WrongShare) as caught:
        recover(bundle, {"M1": s1, "M3": liar}, "seed")
    assert caught.value.member == "M3"
    with pytest.raises(ValueError, match="needed"):
        recover(bundle, {"M1": s1}, "seed")


def test_long_vectors_through_fedledger_zk_match_the_numpy_arithmetic() -> None:
    """Above long_vectors.SMALL elements masking, unmasking and values at a point go to
    fedledger-zk: its mask expansion and sums are the same elements as field.py's."""
    from agent.secagg import long_vectors
    from agent.secagg.binding import evaluate_many
    from agent.secagg.masking import PAIR, SELF

    n = long_vectors.SMALL + 3
    seed = os.urandom(32)
    zero = field.from_ints([0] * n)
    assert np.array_equal(long_vectors.masked_sum([zero], [(seed, PAIR, False)], n), field.expand(seed, n, PAIR))
    x = field.expand(os.urandom(32), n, b"x")
    minus = long_vectors.masked_sum([x], [(seed, SELF, True)], n)
    assert np.array_equal(minus, field.sub(x, field.expand(seed, n, SELF)))
    z = 123456789
    assert long_vectors.values([x], [(seed, SELF, False)], n, z) == evaluate_many([x, field.expand(seed, n, SELF)], z)
    # the whole protocol on long vectors: the masks cancel and the sum decodes
    names = ["A", "B", "C"]
    keys = _participants(names)
    coords = n * field.SLOTS - 1
    updates = {m: np.random.default_rng(i).normal(0, 0.1, coords) for i, m in enumerate(names)}
    self_seeds = {m: os.urandom(32) for m in names}
    masked = {m: mask(field.encode(updates[m]), m, self_seeds[m], _seeds(keys, m, names)) for m in names}
    total = field.decode(unmask_sum(masked, self_seeds, {}), coords)
    assert np.max(np.abs(total - sum(updates.values()))) <= 3 * 2**-17
    with pytest.raises(ValueError):
        mask(field.encode(updates["A"]), "A", self_seeds["A"], {"A": os.urandom(32)})
