"""What the pipeline asks the mirror besides TUF: why a release is missing, and a short-lived
token for the CI's identity (``mirror install --oidc``).

The answer is not trusted for what gets installed; it only makes error messages more useful.
The release endpoint's contract: ``GET /api/v1/projects/<p>/releases/<v>`` answers
200 with ``{"files": [{"filename", "state", "reason", "decided_by", "hold_until"}]}``, and 404
for a release the mirror has never seen, which, for a project whose signed page it serves,
means upstream has no such version; anything else means "no details". The reason is worded as
the server words its own refusals (``mirror.not_served``).
"""

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin

import urllib3

from mirror.bounded import read_at_most
from mirror.not_served import why_not_served
from tuf_repo.client import Auth, authorization_header

MAX_ANSWER_BYTES = 4 << 20


@dataclass(frozen=True)
class MirrorApi:
    base_url: str  # the mirror root, ending in "/"
    auth: Auth | None

    def get_bytes(self, url: str) -> bytes | None:
        """The body at ``url`` (absolute or relative to the mirror root), None on any failure."""
        status, body = self._get(url)
        return body if status == 200 else None

    def _get(self, url: str) -> tuple[int | None, bytes | None]:
        """(status, body) at ``url``; (None, None) when there is no answer."""
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
            return None, None
        return response.status, body

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
        return response.status, _json_or_none(data)

    def get_json(self, url: str) -> Any:
        """The JSON at ``url``, or None on any failure."""
        status, body = self._get(url)
        return _json_or_none(body) if status == 200 else None

    def why_missing(self, project: str, version: str) -> str:
        """A short reason the release is not on the signed page."""
        status, body = self._get(
            f"api/v1/projects/{quote(project, safe='')}/releases/{quote(version, safe='')}"
        )
        if status == 404:
            return "no such version upstream"
        answer = _json_or_none(body) if status == 200 else None
        if not isinstance(answer, dict) or not isinstance(answer.get("files"), list):
            return "not admitted (no details)"
        return explain(answer["files"])


def _json_or_none(body: bytes | None) -> Any:
    try:
        return None if body is None else json.loads(body)
    except ValueError:
        return None


def explain(files: list[Any]) -> str:
    """The most telling state among a release's files, as the server words it."""
    states = {f.get("state"): f for f in files if isinstance(f, dict)}
    for state in ("blocked", "quarantined", "rejected", "withdrawn", "pending"):
        if state in states:
            row = states[state]
            until = row.get("hold_until")
            return why_not_served(
                state,
                str(row.get("reason")) if row.get("reason") else None,
                str(until) if until else None,
            )
    if "admitted" in states:
        return "admitted but not signed yet; retry in a minute"
    return "not admitted (no details)"
