"""Accounts: users, sessions, tokens, passwords, API keys, roles, the audit trail."""
