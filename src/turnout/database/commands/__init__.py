"""Migrations applied by the app's own tool (Django, Alembic, Flyway, any command).

`presets.py` knows each tool's commands and how it names migrations, `listing.py` reads
what the tools print, `connection.py` builds the variables that tell a tool where the
database is, `process.py` runs a command with a deadline, and `migrator.py` puts them
together for the database phase. The backup, restore and equality proof are the same as
for SQL files (service.py).
"""
