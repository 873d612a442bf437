"""Incident identity: masking, template learning and structured keys, so one incident gets one card."""

from bot.identity.identifier import Identifier, Identity, fingerprint, structured_identity
from bot.identity.status import is_resolved

__all__ = ["Identifier", "Identity", "fingerprint", "is_resolved", "structured_identity"]
