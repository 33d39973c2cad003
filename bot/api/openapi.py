"""The REST API described as an OpenAPI 3.0 document (served at `/api/v1/openapi.json`): every
path, its query values, its responses and their schemas (errors included), and the bearer token
the commands need. The tests hold the API to it (schemathesis)."""

from __future__ import annotations

from typing import Any

VERSION = "1.0.0"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _str(nullable: bool = False) -> dict[str, Any]:
    return {"type": "string", "nullable": True} if nullable else {"type": "string"}


def _obj(props: dict[str, Any], required: bool = True, nullable: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = sorted(props)
    if nullable:
        schema["nullable"] = True
    return schema


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
NUM_OR_STR = {"oneOf": [{"type": "string"}, {"type": "number"}], "nullable": True}

HISTORY_ROW = _obj(
    {
        "id": {"type": "integer"},
        "started": _str(True),
        "finished": _str(True),
        "status": _str(),
        "reason": _str(),
        "mode": _str(),
        "value_before": _str(True),
        "traded_value": NUM_OR_STR,
        "shortfall_bps": NUM_OR_STR,
        "fees": NUM_OR_STR,
        "legs": {"type": "integer"},
        "duration_s": {"type": "number", "nullable": True},
        "in_band_after": {"type": "boolean", "nullable": True},
    }
)

LEG = _obj(
    {
        "key": _str(),
        "symbol": _str(),
        "side": {"type": "string", "enum": ["buy", "sell"]},
        "planned": _str(),
        "filled": _str(),
        "average": _str(True),
        "arrival_mid": _str(),
        "price_bps": _str(),
        "fee_bps": _str(),
        "shortfall_bps": _str(),
        "children": {"type": "integer"},
        "outcome": _str(),
        "reason": _str(),
    }
)

POSITION = _obj(
    {
        "asset": _str(),
        "weight": _str(),
        "target": _str(),
        "drift": _str(),
        "band": _list(_str()),
        "in_band": {"type": "boolean"},
    }
)

STATUS = _obj(
    {
        "seen_at": _str(True),
        "value": _str(True),
        "quote": _str(),
        "targets": _obj(
            {
                "source": _str(),
                "origin": _str(),
                "since": _str(True),
                "weights": STRINGS,
            }
        ),
        "positions": _list(POSITION),
        "halted": _str(True),
        "paused": _str(True),
        "last_rebalance": {**HISTORY_ROW, "nullable": True},
        "glide": {"type": "object", "nullable": True},
        # [derivatives]: positions, distance to liquidation, leverage, margin guard, funding
        "derivatives": {"type": "object", "nullable": True},
        "running": {"type": "boolean"},
        "rebalance_asked": {"type": "boolean"},
        "mode": _str(),
        "last_poll": _str(True),
        "api": _obj({"writes": {"type": "boolean"}}),
    }
)

PLAN_LEG = _obj(
    {
        "symbol": _str(),
        "side": _str(),
        "amount": _str(),
        "price": _str(),
        "value": _str(),
        "est_cost_bps": _str(),
    }
)

PLAN = _obj(
    {
        "at": _str(True),
        "plan": _obj(
            {
                "quote": _str(),
                "total_value": _str(),
                "needs_rebalance": {"type": "boolean"},
                "positions": _list({"type": "object"}),
                "legs": _list(PLAN_LEG),
                "dust": _list({"type": "object"}),
                "est_cost": _str(),
                "turnover": _str(),
                "projected_weights": STRINGS,
                "notes": _list(_str()),
            },
            nullable=True,
        ),
    }
)

RUNNING = _obj({"running": {"type": "boolean"}, "started": _str(True), "legs": _list(_ref("Leg"))})

REBALANCE = _obj(
    {
        **HISTORY_ROW["properties"],
        "legs": _list(_obj({"key": _str(), "symbol": _str(), "side": _str(), "status": _str()})),
        "orders": _list(
            _obj(
                {
                    "client_id": _str(),
                    "symbol": _str(),
                    "side": _str(),
                    "price": _str(),
                    "amount": _str(),
                    "filled": _str(),
                    "status": _str(),
                }
            )
        ),
        "fills": _list(
            _obj({"trade_id": _str(), "symbol": _str(), "amount": _str(), "price": _str()})
        ),
    }
)

FLOW = _obj(
    {
        "type": _str(),
        "time": _str(True),
        "kind": _str(),
        "id": _str(),
        "asset": _str(),
        "amount": _str(),
        "fee": _str(),
        "status": _str(),
        "value": _str(True),
        "quote": _str(),
    }
)

SNAPSHOT = _obj({"at": _str(), "kind": _str(), "total": _str(), "weights": STRINGS})

BALANCE = _obj(
    {
        "at": _str(True),
        "quote": _str(),
        "total": _str(True),
        "weights_at": _str(True),
        "assets": _list(
            _obj(
                {
                    "asset": _str(),
                    "balance": _str(),
                    "price": _str(True),
                    "value": _str(True),
                    "weight": _str(True),
                }
            )
        ),
    }
)

METRICS = _obj(
    {
        "rebalances": _obj(
            {
                "total": {"type": "integer"},
                "by_status": {"type": "object", "additionalProperties": {"type": "integer"}},
            }
        ),
        "last_rebalance_at": _str(True),
        "last_shortfall_bps": NUM_OR_STR,
        "fees": _str(),
        "quote": _str(),
        "halted": _str(True),
        "paused": _str(True),
        "last_poll": _str(True),
        "last_poll_age_s": {"type": "number", "nullable": True},
        "health": {"type": "object", "nullable": True},
    }
)

COMMAND = _obj({"at": _str(), "command": _str(), "source": _str(), "detail": _str()})

SCHEMAS: dict[str, Any] = {
    "Error": _obj({"error": _str()}),
    "Answer": _obj({"ok": {"type": "boolean", "enum": [True]}, "message": _str()}),
    "Status": STATUS,
    "Plan": PLAN,
    "Leg": LEG,
    "Running": RUNNING,
    "HistoryRow": HISTORY_ROW,
    "Rebalance": REBALANCE,
    "Flow": FLOW,
    "Snapshot": SNAPSHOT,
    "Balance": BALANCE,
    "Metrics": METRICS,
    "Command": COMMAND,
    "PauseBody": {
        "type": "object",
        "properties": {"reason": {"type": "string", "maxLength": 200}},
        "additionalProperties": False,
    },
}

LIMIT: dict[str, Any] = {
    "name": "limit",
    "in": "query",
    "required": False,
    "description": "How many, newest first (1 to 500).",
    "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 20},
}
SINCE = {
    "name": "since",
    "in": "query",
    "required": False,
    "description": "From this time: Unix seconds or ISO 8601 (UTC unless it says otherwise).",
    "schema": {"type": "string"},
}
RID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}


def _error(text: str) -> dict[str, Any]:
    return {"description": text, "content": {"application/json": {"schema": _ref("Error")}}}


def _ok(schema: dict[str, Any], text: str = "OK") -> dict[str, Any]:
    return {"description": text, "content": {"application/json": {"schema": schema}}}


def _read(summary: str, schema: dict[str, Any], params: list[Any] | None = None) -> Any:
    responses = {
        "200": _ok(schema),
        "400": _error("A query value the API does not take."),
        "421": _error("The Host header is not this server's."),
        "503": _error("The journal cannot be read now."),
    }
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if params:
        op["parameters"] = params
    return {"get": op}


def _write(summary: str, body: bool = False) -> Any:
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {
            "200": _ok(_ref("Answer"), "The daemon took the command."),
            "400": _error("A body that is not a JSON object of the documented shape."),
            "401": _error("No bearer token, or a wrong one."),
            "403": _error("The API is read-only: no token is configured."),
            "409": _error("The command was refused: nothing changed."),
            "413": _error("A body over 4 KiB."),
            "421": _error("The Host header is not this server's."),
            "503": _error("The token file or the journal cannot be read now."),
        },
    }
    if body:
        content = {"application/json": {"schema": _ref("PauseBody")}}
        op["requestBody"] = {"required": False, "content": content}
    return {"post": op}


def openapi_document() -> dict[str, Any]:
    """The document, built afresh (callers may change their copy)."""
    paths = {
        "/api/v1/status": _read("What the bot last saw and what it is doing", _ref("Status")),
        "/api/v1/plan": _read("The last plan the daemon made", _ref("Plan")),
        "/api/v1/rebalance/current": _read("The rebalance working now", _ref("Running")),
        "/api/v1/rebalances": _read("The latest rebalances", _list(_ref("HistoryRow")), [LIMIT]),
        "/api/v1/rebalances/{id}": _read("One rebalance", _ref("Rebalance"), [RID]),
        "/api/v1/flows": _read("Deposits and withdrawals", _list(_ref("Flow")), [LIMIT]),
        "/api/v1/snapshots": _read(
            "The weights over time, oldest first",
            _list(_ref("Snapshot")),
            [SINCE, {**LIMIT, "schema": {**LIMIT["schema"], "default": 500}}],
        ),
        "/api/v1/balance": _read("Balances and values per asset", _ref("Balance")),
        "/api/v1/metrics": _read("A summary of the bot's work", _ref("Metrics")),
        "/api/v1/commands": _read("The latest commands", _list(_ref("Command")), [LIMIT]),
        "/api/v1/openapi.json": _read("This document", {"type": "object"}),
        "/api/v1/pause": _write("Pause: no new rebalance until resumed", body=True),
        "/api/v1/resume": _write("Resume: end a pause, clear a halt"),
        "/api/v1/rebalance": _write("Rebalance to target at the next poll"),
        "/api/v1/rebalance/cancel": _write("Cancel the running rebalance"),
    }
    paths["/api/v1/rebalances/{id}"]["get"]["responses"]["404"] = _error("No such rebalance.")
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "rebalance-bot control API",
            "version": VERSION,
            "description": "Reads need no token; commands need Authorization: Bearer <token>.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
