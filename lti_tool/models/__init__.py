"""Typed models, one module per aggregate. Importing this package registers every table."""

from lti_tool.models.attempt import (
    Attempt,
    AttemptEvent,
    ReflectionAnswer,
    ReflectionReview,
    ReflectionSubmission,
)
from lti_tool.models.badges import Award, Organisation, Territory, TerritoryAgreement
from lti_tool.models.grading import LineItem, Score
from lti_tool.models.launch import LaunchRecord, LoginState
from lti_tool.models.learner import Course, Learner, ResourceLink
from lti_tool.models.outbox import OutboxMessage
from lti_tool.models.registration import Deployment, Platform, RegistrationInvitation

__all__ = [
    "Attempt",
    "AttemptEvent",
    "Award",
    "Course",
    "Deployment",
    "LaunchRecord",
    "Learner",
    "LineItem",
    "Organisation",
    "OutboxMessage",
    "LoginState",
    "Platform",
    "RegistrationInvitation",
    "ReflectionAnswer",
    "ReflectionReview",
    "ReflectionSubmission",
    "ResourceLink",
    "Score",
    "Territory",
    "TerritoryAgreement",
]
