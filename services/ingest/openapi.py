"""The ingest API's OpenAPI 3.1 document, generated from the pydantic models that validate its requests and
write its answers (services/ingest/apimodels.py), served at /v1/openapi.json and kept in docs/ingest-api.json
(a test fails when the committed copy differs: `python -m services.ingest.openapi > docs/ingest-api.json`)."""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import models_json_schema

from services.ingest.apimodels import Accepted, ApiError, ClipRequest, ClipState, JobState
from services.ingest.identity import ID_PATTERN

REF = "#/components/schemas/{model}"


def _json(model: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF.format(model=model)}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json("ApiError")}


AUTH = {"401": _error("No valid bearer token (MIRA_API_TOKENS)."),
        "429": {**_error("Too many requests for this token (MIRA_API_RATE_PER_S); wait Retry-After seconds."),
                "headers": {"Retry-After": {"schema": {"type": "integer"}}}}}


def _id_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "string", "pattern": f"^{ID_PATTERN.pattern}$"}}


def _get(model: str, name: str, summary: str) -> dict[str, Any]:
    return {"get": {
        "summary": summary, "operationId": f"get_{name.removesuffix('_id')}",
        "parameters": [_id_parameter(name)],
        "responses": {
            "200": {"description": summary, "content": _json(model)},
            "404": _error(f"No such {name.removesuffix('_id')} was submitted here."),
            "422": _error(f"{name} is not an id (1 to 128 of A-Z a-z 0-9 _ . -)."),
            **AUTH,
        },
    }}


def document() -> dict[str, Any]:
    _, schemas = models_json_schema(
        [(ClipRequest, "validation"), (Accepted, "serialization"), (ApiError, "serialization"),
         (ClipState, "serialization"), (JobState, "serialization")], ref_template=REF)
    clip = {"$ref": REF.format(model="ClipRequest")}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Mira ingest API", "version": _version(),
                 "description": "Submit clips to the Mira caption pipeline and follow them to their records. "
                                "Every operation but this document needs `Authorization: Bearer TOKEN`."},
        "security": [{"bearer": []}],
        "paths": {
            "/v1/clips": {"post": {
                "summary": "Submit clips: one clip object or a list, taken whole or not at all",
                "operationId": "submit_clips",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "oneOf": [clip, {"type": "array", "items": clip}]}}}},
                "responses": {
                    "202": {"description": "Every clip was checked and published; their ids, in order.",
                            "content": _json("Accepted")},
                    "400": _error("The body is not JSON."),
                    "409": _error("A job id was first submitted with another source, range or hint."),
                    "413": _error("The body or the number of clips is over the limit (MIRA_API_MAX_BODY_BYTES, "
                                  "MIRA_API_MAX_CLIPS)."),
                    "422": _error("A clip is not valid: the clip model's errors, or one line (an empty range, "
                                  "a bad id, a hint over MIRA_MAX_HINT_CHARS, a source MIRA_ALLOWED_SOURCES "
                                  "refuses)."),
                    **AUTH,
                },
            }},
            "/v1/clips/{clip_id}": _get("ClipState", "clip_id", "A clip's newest record version, or its job"),
            "/v1/jobs/{job_id}": _get("JobState", "job_id", "A job's progress and the record it wrote"),
            "/v1/openapi.json": {"get": {
                "summary": "This document", "operationId": "openapi", "security": [],
                "responses": {"200": {"description": "The OpenAPI 3.1 document",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}},
            }},
        },
        "components": {"schemas": schemas["$defs"],
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mira-pipeline")
    except PackageNotFoundError:
        return "0"


def text() -> str:
    return json.dumps(document(), indent=2) + "\n"


if __name__ == "__main__":
    print(text(), end="")
