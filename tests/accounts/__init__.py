"""Accounts: registration, tokens, sessions, the account lifecycle, credentials kept secret."""
