"""Why a file is not served: one wording for the server's refusals and the pipeline client's
errors, so a pipeline reads the reason the mirror gives (docs/review.md)."""


def why_not_served(state: str, reason: str | None, hold_until: str | None) -> str:
    """The phrase for a file in ``state`` (not admitted), its recorded ``reason`` and, for a
    timed hold, when it ends (PEP 700 timestamp)."""
    because = reason or "no reason given"
    if state == "quarantined":
        return (
            f"held until {hold_until} because {because}"
            if hold_until
            else (f"held for review because {because}")
        )
    if state == "blocked":
        # A block's recorded reason already reads "blocked: REASON"; say it once.
        return f"blocked: {because.removeprefix('blocked: ')}"
    return f"{state}: {because}"
