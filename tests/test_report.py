"""Computed conclusions and self-checking claims."""

from __future__ import annotations

import pytest

from rlkit.ui.report import claim, verdict


def test_verdict_picks_the_sentence_the_numbers_support(capsys):
    verdict(3 > 2, "Two envs: 1.4× one", "parallel envs pay", "they do not pay")
    verdict(1 > 2, "Two envs: 0.9× one", "parallel envs pay", "they do not pay")
    assert capsys.readouterr().out.splitlines() == [
        "Two envs: 1.4× one: parallel envs pay.",
        "Two envs: 0.9× one: they do not pay.",
    ]


def test_a_claim_that_holds_is_shown_with_its_numbers(capsys):
    assert claim("the agent beats random play", True, trained=75.8, random=-193.25, episodes=100)
    out = capsys.readouterr().out
    assert "✔ holds" in out and "trained = 75.8" in out and "random = -193" in out


def test_a_claim_that_fails_raises_with_its_numbers(capsys):
    with pytest.raises(AssertionError, match=r"does not hold: solves CartPole \(mean = 312\)"):
        claim("solves CartPole", 312.0 >= 475, mean=312.0)
    assert "✘ does NOT hold" in capsys.readouterr().out
