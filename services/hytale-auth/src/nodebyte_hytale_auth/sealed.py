"""Contexts the Hytale tokens are sealed under, binding each ciphertext to its row and role.

A sealed value copied into another row, or from one column to another, does
not open: AES-GCM authenticates the context as associated data.
"""

from __future__ import annotations

from uuid import UUID


def access_context(account_id: UUID) -> str:
    return f"hytale:account:{account_id}:access"


def refresh_context(account_id: UUID) -> str:
    return f"hytale:account:{account_id}:refresh"


def session_context(session_id: UUID) -> str:
    return f"hytale:session:{session_id}:session"


def identity_context(session_id: UUID) -> str:
    return f"hytale:session:{session_id}:identity"
