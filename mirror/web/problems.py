"""The pages at the problem type URIs (``/problems/<kind>``): what each kind of refusal means,
for a person who follows a ``type`` (docs/admission.md, "Problem types")."""

from flask import Blueprint, Response

from mirror.errors import NotFoundError
from mirror.services.problems import PROBLEMS_PATH, TYPES
from mirror.services.refusal import Kind

blueprint = Blueprint("problems", __name__)
_KINDS = {kind.value: kind for kind in Kind}


@blueprint.get(f"{PROBLEMS_PATH}<kind>")
def problem_type(kind: str) -> Response:
    known = _KINDS.get(kind)
    if known is None:
        raise NotFoundError("no such problem type")
    described = TYPES[known]
    return Response(f"{described.title}\n\n{described.meaning}\n", mimetype="text/plain")
