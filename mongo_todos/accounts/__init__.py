"""Accounts: registration, passwords, logins (sessions) and the tokens they issue."""
