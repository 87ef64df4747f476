"""The operator commands and what every command prints."""
