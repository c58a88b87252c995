"""The argument bundles of the fedledger chaincode's larger transactions, as TypedDicts.

Small transactions take their arguments as keyword parameters of their builder
(clients/ledger/calls.py); the bundles below are built elsewhere (a study file, an agent's
journaled round artifacts) and handed to the builder whole. Keys and required-ness mirror the
chaincode's argument schemas; tests/unit/test_ledger_calls.py holds them to it.
"""

# no `from __future__ import annotations`: TypedDict reads Required[...] only from evaluated annotations
from typing import Any, Required, TypedDict


class StudyParams(TypedDict, total=False):
    """``Study:Propose``: a study's id and every parameter (docs/your-own-data.md names each)."""

    study_id: Required[str]
    title: Required[str]
    model: Required[str]
    model_spec_hash: Required[str]
    model_cid: Required[str]
    model_hash: Required[str]
    data_schema_hash: Required[str]
    epsilon_budget_micro: Required[int]
    delta_e12: Required[int]
    rounds: Required[int]
    local_steps: Required[int]
    audit_rate_ppm: Required[int]
    committee_size: Required[int]
    committee_threshold: Required[int]
    participants_per_round: Required[int]
    min_participants: Required[int]
    min_stake: Required[int]
    reward_pool: Required[int]
    reward_per_round: Required[int]
    missing_slash: Required[int]
    cheat_slash: Required[int]
    commit_window_s: Required[int]
    prove_window_s: Required[int]
    aggregate_window_s: Required[int]
    validation_window_s: Required[int]
    aggregation: str  # "trusted" or "secure"
    keys_window_s: int
    # audited studies
    zk_circuit: str
    zk_vk_hash: str
    model_commitment: str
    learning_rate_ppm: int
    clip_ppm: int
    expected_batch: int
    # secure studies with bound inputs
    bind_vk_hash: str
    update_norm_micro: int
    # learning under heterogeneity
    prox_mu_ppm: int
    server_optimizer: str  # "fedavg" or "fedavgm"
    server_lr_ppm: int
    server_momentum_ppm: int


class CommitArgs(TypedDict, total=False):
    """``Round:Commit``: a participant's commitment to its update."""

    study_id: Required[str]
    round: Required[int]
    update_hash: Required[str]
    step_root: Required[str]
    sample_bucket: Required[int]
    epsilon_micro: Required[int]
    share_cids: list[str]
    consented_records: int
    consent_digest: str  # consent-gated studies: SHA-256 of the sorted consent ids used
    # audited studies
    step_count: int
    final_commitment: str
    noise_multiplier_micro: int
    # bound secure rounds (final_commitment too)
    bind_commitment: str


class SecretHashes(TypedDict):
    seed: str
    key: str


class PublishKeysArgs(TypedDict):
    """``Round:PublishKeys`` (secure aggregation): a participant's round key and its dealt shares."""

    study_id: str
    round: int
    round_public: str
    bundle_cid: str
    bundle_hash: str
    commitments: SecretHashes
    share_hashes: dict[str, SecretHashes]  # committee member -> hashes of the two shares dealt to it


class Exclusion(TypedDict):
    msp_id: str
    reason: str


class SharesArgs(TypedDict, total=False):
    """``Round:SubmitShares`` (secure aggregation): a committee member's shares of what the ledger reveals."""

    study_id: Required[str]
    round: Required[int]
    shares: Required[dict[str, str]]  # participant -> base64 Shamir share
    complaints: list[Exclusion]


class ProofArgs(TypedDict):
    """``Round:SubmitProof`` (audited studies): the opened step leaves and their Groth16 proofs."""

    study_id: str
    round: int
    openings: list[dict[str, Any]]  # {index, w_before, batch, w_after, path: [[side, sha256 hex], ...]}
    proofs: list[dict[str, Any]]  # {index, proof (base64)}


class BindingArgs(TypedDict):
    """``Round:SubmitBinding`` (bound secure rounds): the masked input's value at the round's
    point with its Groth16 proof, and the values of the masks shared with every other committed
    participant (decimal field elements)."""

    study_id: str
    round: int
    value: str
    pair_values: dict[str, str]
    proof: str  # base64


class Ceremony(TypedDict):
    """``Zk:RegisterKey``'s record of the setup ceremony."""

    phase1: list[str]
    phase2: list[str]
    contributors: list[str]
    beacon1: str
    beacon2: str
