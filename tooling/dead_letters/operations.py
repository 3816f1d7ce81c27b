"""List and redrive across the holds of the manifest: each hold read on its own, so one that cannot be
read (missing, refused) is reported and the others are still shown or redriven."""

from __future__ import annotations

from tooling.dead_letters.connect import Place
from tooling.dead_letters.errors import DeadLetterError
from tooling.dead_letters.holds import Hold
from tooling.dead_letters.letters import DeadLetter, Redriven

LIMIT = 1000  # messages read from one hold at a time; past it, drain in rounds


def list_letters(place: Place, holds: list[Hold], *, limit: int = LIMIT) -> tuple[list[DeadLetter], list[str]]:
    """Every message waiting in `holds` (each left there), and a line per hold that could not be read."""
    letters: list[DeadLetter] = []
    problems: list[str] = []
    for hold in holds:
        try:
            letters += place.reader(hold).letters(limit)
        except DeadLetterError as exc:
            problems.append(str(exc))
    return letters, problems


def redrive(
    place: Place, holds: list[Hold], *, ids: set[str] | None, limit: int = LIMIT
) -> tuple[list[Redriven], list[str]]:
    """Send again the messages named by `ids` (None: every one) and remove each that was sent; a line per
    hold that could not be read, and per id found in none."""
    results: list[Redriven] = []
    problems: list[str] = []
    for hold in holds:
        try:
            results += place.reader(hold).redrive(lambda letter: ids is None or letter.id in ids, limit)
        except DeadLetterError as exc:
            problems.append(str(exc))
    if ids is not None:
        where = ", ".join(h.name for h in holds)
        missing = sorted(ids - {r.letter.id for r in results})
        problems += [f"no dead letter {id_!r} waits in {where} ({place.describe})" for id_ in missing]
    return results, problems
