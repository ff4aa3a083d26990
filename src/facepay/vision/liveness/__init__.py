"""Liveness (presentation-attack detection): captures, challenges, checks and the policy.

See the README's liveness section for what each terminal type can and cannot stop.
"""

from facepay.vision.liveness.capture import Capture, Frame, TerminalCapabilities
from facepay.vision.liveness.challenge import (
    Action,
    Challenge,
    ChallengeBook,
    ChallengeStore,
    issue_challenge,
)
from facepay.vision.liveness.checks.base import AttackType, CheckResult, LivenessCheck
from facepay.vision.liveness.policy import Decision, LivenessDecision, LivenessPolicy

__all__ = [
    "Action",
    "AttackType",
    "Capture",
    "Challenge",
    "ChallengeBook",
    "ChallengeStore",
    "CheckResult",
    "Decision",
    "Frame",
    "LivenessCheck",
    "LivenessDecision",
    "LivenessPolicy",
    "TerminalCapabilities",
    "issue_challenge",
]
