"""The API's request bodies (pydantic): which fields, nothing else; their values are checked by checks.py.

The setting fields take any JSON value so that a wrong type is reported by the same rules and the
same messages as in values.yaml (``"7"``, ``7.0`` and ``true`` are not 7 there either); unknown and
missing fields are refused here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from provisioner.console.checks import ApiError

_FORBID = ConfigDict(extra="forbid", frozen=True)


class PreviewRequest(BaseModel):
    model_config = _FORBID
    enabled: JsonValue = Field(description="JSON boolean")
    schedule: JsonValue = Field(description='unix cron, 5 fields, e.g. "30 3 * * *"')
    expiresInDays: JsonValue = Field(description="JSON integer, days (policy minimum to 3650)")
    timeZone: JsonValue = Field(description="IANA time zone name, e.g. Europe/Kiev")


class SaveRequest(BaseModel):
    model_config = _FORBID
    enabled: JsonValue = Field(description="JSON boolean")
    schedule: JsonValue = Field(description='unix cron, 5 fields, e.g. "30 3 * * *"')
    expiresInDays: JsonValue = Field(description="JSON integer, days (policy minimum to 3650)")
    baseCommit: str = Field(
        pattern=r"^[0-9a-f]{40}$", strict=True, description="the branch head the settings were edited on"
    )


def request_errors(exc: ValidationError, allowed: tuple[str, ...]) -> list[ApiError]:
    """pydantic's errors as field errors: unknown fields, missing fields, a malformed baseCommit."""
    found: list[ApiError] = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "request"
        if error["type"] == "extra_forbidden":
            found.append(ApiError(field, f"unknown field {field!r}; allowed fields are {', '.join(allowed)}"))
        elif error["type"] == "missing":
            found.append(ApiError(field, f"{field} is required"))
        elif field == "baseCommit":
            found.append(ApiError(field, "baseCommit must be the 40-hex commit id the settings were read at"))
        else:
            found.append(ApiError(field if field in allowed else "request", str(error["msg"])))
    return found
