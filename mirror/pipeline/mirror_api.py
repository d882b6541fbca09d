"""What the pipeline asks the mirror besides TUF: why a release is missing, and a short-lived
token for the CI's identity (``mirror install --oidc``).

The answer is not trusted for what gets installed; it only makes error messages more useful.
The release endpoint's contract: ``GET /api/v1/projects/<p>/releases/<v>`` answers
200 with ``{"files": [{"filename", "state", "reason", "decided_by", "hold_until"}]}``; anything
else means "no details".
"""

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin

import urllib3

from mirror.bounded import read_at_most
from tuf_repo.client import Auth, authorization_header

MAX_ANSWER_BYTES = 4 << 20


@dataclass(frozen=True)
class MirrorApi:
    base_url: str  # the mirror root, ending in "/"
    auth: Auth | None

    def get_bytes(self, url: str) -> bytes | None:
        """The body at ``url`` (absolute or relative to the mirror root), None on any failure."""
        headers = {"Accept": "application/json"}
        if self.auth is not None:
            headers["Authorization"] = authorization_header(self.auth)
        try:
            response = urllib3.request(
                "GET",
                urljoin(self.base_url, url),
                headers=headers,
                timeout=30,
                retries=2,
                redirect=False,
                preload_content=False,
            )
            body = read_at_most(response, MAX_ANSWER_BYTES)
            response.release_conn()
        except urllib3.exceptions.HTTPError:
            return None
        if response.status != 200 or body is None:
            return None
        return body

    def post_json(self, url: str, body: Any) -> tuple[int, Any]:
        """POST ``body`` as JSON; the status and the JSON answer (None when not JSON).

        Raises:
            urllib3.exceptions.HTTPError: the mirror could not be reached.
        """
        response = urllib3.request(
            "POST",
            urljoin(self.base_url, url),
            json=body,
            headers={"Accept": "application/json"},
            timeout=30,
            retries=2,
            redirect=False,
            preload_content=False,
        )
        data = read_at_most(response, MAX_ANSWER_BYTES)
        response.release_conn()
        try:
            return response.status, None if data is None else json.loads(data)
        except ValueError:
            return response.status, None

    def get_json(self, url: str) -> Any:
        """The JSON at ``url``, or None on any failure."""
        body = self.get_bytes(url)
        try:
            return None if body is None else json.loads(body)
        except ValueError:
            return None

    def why_missing(self, project: str, version: str) -> str:
        """A short reason the release is not on the signed page."""
        answer = self.get_json(
            f"api/v1/projects/{quote(project, safe='')}/releases/{quote(version, safe='')}"
        )
        if not isinstance(answer, dict) or not isinstance(answer.get("files"), list):
            return "not admitted (no details)"
        return explain(answer["files"])


def explain(files: list[Any]) -> str:
    """The most telling state among a release's files, as a phrase."""
    states = {f.get("state"): f for f in files if isinstance(f, dict)}
    if "blocked" in states:
        # The mirror words a block's reason "blocked: REASON"; say it once.
        reason = str(states["blocked"].get("reason") or "no reason given")
        return f"blocked for {reason.removeprefix('blocked: ')}"
    if "quarantined" in states:
        until = states["quarantined"].get("hold_until")
        if until:
            return f"quarantined until {until}"
        return f"held for review ({states['quarantined'].get('reason') or 'no reason given'})"
    for state in ("rejected", "withdrawn", "pending"):
        if state in states:
            return f"not admitted: {state} ({states[state].get('reason') or 'no reason given'})"
    if "admitted" in states:
        return "admitted but not signed yet; retry in a minute"
    return "not admitted (no details)"
