"""Wire shapes of the tickets API, and the texts of its own errors in en and zh-CN.

Input models keep ``type``, ``priority`` and the like as plain strings: the
service checks them, so that the 422 a user sees comes from one message table
in their language instead of pydantic's English. Field names stay English in
both languages (they are what the UI binds to).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

LANGUAGES = ("en", "zh-CN")

MESSAGES: dict[str, dict[str, str]] = {
    "required": {"en": "{field} is required",
                 "zh-CN": "{field} 为必填项"},
    "invalid_choice": {"en": "{field} must be one of: {choices}",
                       "zh-CN": "{field} 必须是以下之一：{choices}"},
    "not_found": {"en": "{field} {value} does not exist",
                  "zh-CN": "{field} {value} 不存在"},
    "unknown_user": {"en": "{field}: there is no user {value}",
                     "zh-CN": "{field}：用户 {value} 不存在"},
    "too_long": {"en": "{field} is too long: at most {max} characters",
                 "zh-CN": "{field} 过长：最多 {max} 个字符"},
    "not_text": {"en": "{field} must be text",
                 "zh-CN": "{field} 必须是文本"},
    "not_datetime": {"en": "{field} must be a date and time",
                     "zh-CN": "{field} 必须是日期时间"},
    "naive_datetime": {"en": "{field} must include a time zone, e.g. 2025-05-01T09:00:00+08:00",
                       "zh-CN": "{field} 必须包含时区，例如 2025-05-01T09:00:00+08:00"},
    "not_bool": {"en": "{field} must be true or false",
                 "zh-CN": "{field} 必须是 true 或 false"},
    "not_list": {"en": "{field} must be a list of text",
                 "zh-CN": "{field} 必须是文本列表"},
    "not_number": {"en": "{field} must be a number",
                   "zh-CN": "{field} 必须是数字"},
    "out_of_range": {"en": "{field} must be between {min} and {max}",
                     "zh-CN": "{field} 必须在 {min} 到 {max} 之间"},
    "appointment_order": {"en": "{field} must not be before appointment_start",
                          "zh-CN": "{field} 不能早于 appointment_start"},
    "unknown_field": {"en": "{field} is not a ticket field",
                      "zh-CN": "{field} 不是工单字段"},
    "not_editable": {"en": "{field} cannot be changed; open a new ticket instead",
                     "zh-CN": "{field} 不可修改，请新建工单"},
    "use_transition": {"en": "{field} changes only through a transition "
                             "(POST /api/v1/tickets/{{id}}/transitions)",
                       "zh-CN": "{field} 只能通过状态流转修改"
                                "（POST /api/v1/tickets/{{id}}/transitions）"},
    "required_for_state": {"en": "{field} is required to move a ticket to {state}",
                           "zh-CN": "工单转为 {state} 时必须填写 {field}"},
    "illegal_transition": {"en": "cannot go from {old} to {new}; legal: {legal}",
                           "zh-CN": "不能从 {old} 转为 {new}；允许：{legal}"},
    "no_state": {"en": "none", "zh-CN": "无"},
    "forbidden_transition": {
        "en": "only supervisor or admin may move a ticket from {old} to {new}",
        "zh-CN": "只有主管或管理员可以将工单从 {old} 转为 {new}"},
    "stale": {"en": "ticket {id} was changed by someone else (now version {version}); "
                    "reload it and apply your change again",
              "zh-CN": "工单 {id} 已被他人修改（当前版本 {version}），请刷新后重新修改"},
    "ticket_not_found": {"en": "ticket {id} not found",
                         "zh-CN": "工单 {id} 不存在"},
    "unknown_code": {"en": "{field}: there is no code {value} in the fault taxonomy",
                     "zh-CN": "{field}：故障分类中没有代码 {value}"},
    "inactive_code": {"en": "{field}: {value} is deactivated in the fault taxonomy; pick another",
                      "zh-CN": "{field}：{value} 在故障分类中已停用，请另选"},
    "wrong_class": {"en": "{field}: {value} is not a phenomenon of fault class {parent}",
                    "zh-CN": "{field}：{value} 不属于故障类别 {parent}"},
    "class_needed": {"en": "{field} is required when fault_phenomenon_code is given",
                     "zh-CN": "填写 fault_phenomenon_code 时必须填写 {field}"},
}


class _Params(dict):
    def __missing__(self, key: str) -> str:  # a template never fails on a missing parameter
        return "{" + key + "}"


def message(code: str, lang: str = "en", **params: Any) -> str:
    """The text for ``code`` in ``lang`` (English if that language lacks it).

    >>> message("required", "zh-CN", field="description")
    'description 为必填项'
    """
    texts = MESSAGES.get(code)
    if texts is None:
        return f"{params.get('field', '')}: {code}".strip(": ")
    return (texts.get(lang) or texts["en"]).format_map(_Params(params))


def language(accept_language: str | None) -> str:
    """The best of :data:`LANGUAGES` for an ``Accept-Language`` header; English by default.

    >>> language("zh-CN,zh;q=0.9,en;q=0.8"), language("en-US,zh;q=0.5"), language(None)
    ('zh-CN', 'en', 'en')
    """
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, rest = part.strip().partition(";")
        q = 1.0
        if rest.strip().startswith("q="):
            try:
                q = float(rest.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, position, tag.strip().lower()))
    for neg_q, _, tag in sorted(ranked):
        if neg_q >= 0:  # q=0 means "not this one"
            continue
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en") or tag == "*":
            return "en"
    return "en"


# --- input -----------------------------------------------------------------

class _TicketFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    priority: str | None = None
    product_model: str | None = None
    product_serial: str | None = None
    fault_type: str | None = None
    fault_phenomenon: str | None = None
    fault_cause: str | None = None
    fault_measure: str | None = None
    fault_class_code: str | None = None
    fault_phenomenon_code: str | None = None
    address: str | None = Field(None, max_length=4000)
    region: str | None = None
    appointment_start: datetime | None = None
    appointment_end: datetime | None = None
    assignee: str | None = None
    site_id: int | None = None
    technician_id: int | None = None
    parts_used: list[str | dict] | None = Field(None, max_length=200)  # [{"part", "qty"}] or names
    fee: float | None = None


class TicketIn(_TicketFields):
    """Create: ``type``, ``customer_id`` and a non-empty ``description`` are required."""

    type: str | None = None
    customer_id: int | None = None
    description: str | None = Field(None, max_length=20000)
    call_id: str | None = None


class TicketPatch(_TicketFields):
    """Change fields of the ticket read at ``version``; only the fields sent change."""

    version: int
    description: str | None = Field(None, max_length=20000)
    # Accepted only to be refused with a clear message (state -> transitions).
    state: Any = None
    type: Any = None
    customer_id: Any = None
    resolution: Any = None
    cancel_reason: Any = None


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str
    resolution: str | None = Field(None, max_length=20000)
    reason: str | None = Field(None, max_length=4000)
    version: int | None = None


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, max_length=20000)


class LinkCallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    call_id: str | None = None


# --- output ----------------------------------------------------------------

class TicketOut(BaseModel):
    """Every column of a ticket (``tickets.service.ticket_dict``); columns added
    to the model later pass through unlisted."""

    model_config = ConfigDict(extra="allow")

    id: int
    customer_id: int
    type: str
    state: str
    priority: str
    description: str
    product_model: str | None
    product_serial: str | None
    fault_type: str | None
    fault_phenomenon: str | None
    fault_cause: str | None
    fault_measure: str | None
    fault_class_code: str | None = None
    fault_phenomenon_code: str | None = None
    address: str | None
    region: str | None
    appointment_start: str | None
    appointment_end: str | None
    assignee: str | None
    site_id: int | None
    technician_id: int | None
    resolution: str | None
    cancel_reason: str | None
    parts_used: list[dict | str]
    fee: float | None
    sla_level: str | None
    due_response_at: str | None
    due_resolve_at: str | None
    responded_at: str | None
    resolved_at: str | None
    sla_warned: bool
    sla_breached: bool
    escalated: bool
    call_id: str | None
    created_by: str | None
    version: int
    created_at: str
    updated_at: str


class TicketDetail(TicketOut):
    calls: list[str]


class TicketPage(BaseModel):
    items: list[TicketOut]
    total: int
    limit: int
    offset: int


class HistoryOut(BaseModel):
    id: int
    at: str | None
    actor: str
    kind: str
    field: str | None
    old: str | None
    new: str | None
    note: str | None


class LinkOut(BaseModel):
    ticket_id: int
    call_id: str
    linked: bool  # False: it already was
    calls: list[str]
