"""The people mapping: who in the export is which user of ours.

A CSV file with the columns `person,user_id,user_type`: `person` is an email address
(matched without regard to case) or a full name as the export writes it (Harvest);
`user_type` is Employee or Contractor. An unknown person is reported, never invented.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

USER_TYPES = ("Employee", "Contractor")


@dataclass(frozen=True)
class Person:
    """Our user id and type for a person of the export."""

    user_id: str
    user_type: str


class PeopleMap:
    """Lookups from an export's person to our users."""

    def __init__(self, people: dict[str, Person]) -> None:
        self.people = people

    @classmethod
    def load(cls, path: Path | None) -> PeopleMap:
        """Read a mapping file (raises ValueError naming the bad line)."""
        if path is None:
            return cls({})
        people: dict[str, Person] = {}
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = {"person", "user_id", "user_type"} - set(reader.fieldnames or [])
            if missing:
                raise ValueError(f"{path.name}: missing columns {', '.join(sorted(missing))}")
            for number, row in enumerate(reader, start=2):
                person = (row["person"] or "").strip().casefold()
                user_id = (row["user_id"] or "").strip()
                user_type = (row["user_type"] or "").strip()
                if not person or not user_id or user_type not in USER_TYPES:
                    raise ValueError(
                        f"{path.name} line {number}: need person, user_id and user_type "
                        f"(Employee or Contractor)"
                    )
                if person in people:
                    raise ValueError(f"{path.name} line {number}: {row['person']} appears twice")
                people[person] = Person(user_id, user_type)
        return cls(people)

    def digest(self) -> str:
        """A digest of the whole mapping: a changed mapping changes what a file means."""
        text = "\n".join(
            f"{key}\x1f{person.user_id}\x1f{person.user_type}"
            for key, person in sorted(self.people.items())
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def find(self, person: str) -> Person | None:
        """The user behind an email or name, or None."""
        return self.people.get(person.strip().casefold())
