"""The router's rules as pure functions: traffic choice, mirroring, keys and tokens."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from workbench.router.credentials import TOKEN_LIFETIME_S, TOKEN_REFRESH_AFTER_S, EndpointKeys, TokenSigner
from workbench.router.traffic import NO_VALID_DEPLOYMENTS, NoRoute, Route, choose, mirror_to

DEPLOYMENTS = {"blue", "green"}


def test_weights_split_requests() -> None:
    rng = random.Random(7)
    counts = Counter(
        choose({"blue": 90, "green": 10}, DEPLOYMENTS, None, rng).deployment for _ in range(20_000)
    )
    assert 0.88 < counts["blue"] / 20_000 < 0.92


def test_header_pins_even_at_zero_percent_and_ignores_case() -> None:
    route = choose({"blue": 100, "green": 0}, DEPLOYMENTS, "GREEN", random.Random(1))
    assert route == Route("green", pinned=True)


def test_unknown_header_and_no_positive_weight_are_404s() -> None:
    with pytest.raises(NoRoute) as unknown:
        choose({"blue": 100}, DEPLOYMENTS, "purple", random.Random(1))
    assert str(unknown.value).startswith(NO_VALID_DEPLOYMENTS)  # Azure's text first, as it is
    assert str(unknown.value).endswith("(workbench: no deployment 'purple' in this endpoint)")
    with pytest.raises(NoRoute) as no_weight:
        choose({"blue": 0, "green": 0}, DEPLOYMENTS, None, random.Random(1))
    assert str(no_weight.value) == NO_VALID_DEPLOYMENTS
    assert str(no_weight.value).startswith("No valid deployments to route to.")


def test_mirror_copies_only_unpinned_requests_at_its_share() -> None:
    rng = random.Random(3)
    live = Route("blue", pinned=False)
    copies = sum(mirror_to({"green": 50}, live, DEPLOYMENTS, rng) == "green" for _ in range(10_000))
    assert 4_700 < copies < 5_300
    assert mirror_to({"green": 50}, Route("blue", pinned=True), DEPLOYMENTS, rng) is None
    assert mirror_to({"green": 0}, live, DEPLOYMENTS, rng) is None


def test_both_keys_work_and_regenerating_one_keeps_the_other() -> None:
    keys = EndpointKeys.generate()
    primary, secondary = keys.primary, keys.secondary
    assert keys.accepts(primary)
    assert keys.accepts(secondary)
    keys.regenerate("primary")
    assert not keys.accepts(primary)
    assert keys.accepts(secondary)
    assert keys.accepts(keys.primary)
    with pytest.raises(ValueError, match=r"Key type must be 'primary' or 'secondary'\."):
        keys.regenerate("tertiary")


def test_tokens_expire_and_cannot_be_forged_or_reused_elsewhere() -> None:
    signer = TokenSigner("secret")
    issued = signer.issue("front", now=1_000_000).to_json()  # as the control API answers
    token = str(issued["accessToken"])
    assert set(issued) == {"accessToken", "tokenType", "expiryTimeUtc", "refreshAfterTimeUtc"}
    assert issued["expiryTimeUtc"] == 1_000_000 + TOKEN_LIFETIME_S  # epoch seconds, as Azure's REST API
    assert issued["refreshAfterTimeUtc"] == 1_000_000 + TOKEN_REFRESH_AFTER_S
    assert signer.accepts("front", token, now=1_000_000 + 10)
    assert not signer.accepts("front", token, now=1_000_000 + TOKEN_LIFETIME_S + 1)
    assert not signer.accepts("other", token, now=1_000_000 + 10)
    assert not TokenSigner("another secret").accepts("front", token, now=1_000_000 + 10)
    payload, _, signature = token.partition(".")
    assert not signer.accepts("front", payload + "." + signature[::-1], now=1_000_000 + 10)
