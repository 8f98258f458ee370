"""Typed SQLAlchemy 2 models, split by aggregate."""

from challenge.models.announcements import Announcement
from challenge.models.audit import AuditEntry
from challenge.models.base import Base, UTCDateTime, utcnow
from challenge.models.challenges import (
    QUOTA_PERIODS,
    TASKS,
    VISIBILITIES,
    Blob,
    Challenge,
    Phase,
    Track,
)
from challenge.models.hosts import ChallengeHost
from challenge.models.people import ApiToken, Membership, Team, User, hash_token
from challenge.models.results import FinalResults
from challenge.models.rules import RulesAcceptance, RulesVersion
from challenge.models.submissions import MAX_ATTEMPTS, STATUSES, Score, Submission
from challenge.models.truth import RescoreItem, RescoreRun, TruthArtifact, TruthVersion

__all__ = [
    "MAX_ATTEMPTS", "QUOTA_PERIODS", "STATUSES", "TASKS", "VISIBILITIES",
    "ApiToken", "AuditEntry", "Base", "Blob", "Challenge", "ChallengeHost", "FinalResults", "Membership",
    "Phase", "Score",
    "Submission", "Team", "Track", "UTCDateTime", "User", "hash_token", "utcnow",
    "RescoreItem", "RescoreRun", "TruthArtifact", "TruthVersion",
    "Announcement", "RulesAcceptance", "RulesVersion",
]
