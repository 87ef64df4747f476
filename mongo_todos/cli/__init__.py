"""The command line: ``flask --app mongo_todos users|sessions|db|seed`` (commands) and what a
person at a terminal sees when one fails (terminal)."""
