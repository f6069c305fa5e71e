"""The OpenAPI schema's shared parts: the API key scheme, and the problem-details errors every
operation can answer with (added here once, rather than on each view)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details: every error of this API has this shape.",
    "properties": {
        "type": {"type": "string", "description": '"about:blank": the status says it all.'},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What happened and what to do."},
        "code": {"type": "string", "description": "A stable machine-readable name."},
        "errors": {
            "type": "array",
            "description": "One per invalid field (query parameter, header or body field).",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "nullable": True},
                    "message": {"type": "string"},
                },
                "required": ["field", "message"],
            },
        },
    },
    "required": ["type", "title", "status", "detail", "code"],
}

WHY = {
    "400": "Invalid input: the errors name each field.",
    "401": "No key, an invalid key or a revoked key.",
    "403": "A read key asking to write.",
    "404": "No such object at this key's clinic.",
    "406": "Only application/json (or problem+json) can be returned.",
    "409": "The Idempotency-Key was used for a different request.",
    "415": "The body's media type is not accepted here.",
    "429": "Too many requests; Retry-After says how many seconds to wait.",
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "antidote.restapi.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A clinic's API key (adk_…), created by its owners at /clinic/api-keys.",
        }


def only_api_v1(endpoints):
    """The schema documents the REST API only, not the portal's session JSON nor itself."""
    return [
        endpoint
        for endpoint in endpoints
        if endpoint[0].startswith("/api/v1/")
        and not endpoint[0].startswith(("/api/v1/schema/", "/api/v1/docs/"))
    ]


def problem_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM
    reference = {"$ref": "#/components/schemas/Problem"}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            codes = ["400", "401", "403", "406", "429"]
            if "{" in path:
                codes.append("404")
            if method in ("post", "patch"):
                codes += ["409", "415"]
            responses = operation.setdefault("responses", {})
            for code in sorted(codes):
                responses.setdefault(
                    code,
                    {
                        "description": WHY[code],
                        "content": {"application/problem+json": {"schema": reference}},
                    },
                )
            if "429" in responses:
                responses["429"]["headers"] = {
                    "Retry-After": {"schema": {"type": "integer"}, "required": True}
                }
    return result
