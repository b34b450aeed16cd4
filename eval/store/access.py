"""How a command opens eval.db: the one choice that decides whether it may write.

- READ: analyze, status, report, compare, gc --dry-run. An SQLite `mode=ro` connection
  (`PRAGMA query_only` too): never creates, migrates, switches to WAL or writes anything;
  the file must already be a current chaos-eval db, but for indexes that only make a read
  faster (eval/store/migrations.py's READ_OPTIONAL): without them it reads the rows.
- WRITE: resume, rerun, gc. An existing chaos-eval db (`mode=rw`, never created); pending
  migrations are applied.
- CREATE: run campaign. May create the file, or initialise an empty one (0 bytes, or an
  SQLite file with no tables); a foreign SQLite file is refused before anything is set on it.
"""

from __future__ import annotations

from enum import Enum


class Access(Enum):
    READ = "ro"
    WRITE = "rw"
    CREATE = "rwc"

    @property
    def writes(self) -> bool:
        return self is not Access.READ
