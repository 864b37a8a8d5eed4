"""Checking member values against the field catalogue.

``clean`` takes values as they arrive (JSON from the API, or cells already turned into
Python values by the importer), returns them in stored form, and collects a Chinese message
per bad field, so one answer lists every problem. Cross-field rules (an ID number that must
agree with the birth date and gender) are checked against the record as it would be after
the change.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from marshmallow import ValidationError as _MarshmallowError
from marshmallow.validate import Email
from stdnum.cn import ric
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength

from server.core import text as text_rule
from server.core.timeutil import local_today
from server.domain.members import catalogue as cat
from server.domain.members.catalogue import FieldDef

PERSON_NAME = re.compile(r"^[\u3400-\u9fffA-Za-z·•.\- ]{1,50}$")
MOBILE = re.compile(r"^1[3-9]\d{9}$")
PHONE = re.compile(r"^[0-9+\-() ]{3,30}$")
STAFF_NO = re.compile(r"^[A-Za-z0-9\-_]{1,32}$")
OTHER_ID = re.compile(r"^[A-Za-z0-9\-()（）]{5,30}$")
_email = Email(error="电子邮箱格式不正确")
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d")
RESIDENT_ID = "居民身份证"


def labelled(errors: dict[str, str]) -> str:
    """One line naming each bad field by its Chinese label."""
    return "；".join(f"{cat.BY_CODE[c].label if c in cat.BY_CODE else c}：{m}" for c, m in errors.items())


def parse_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        for fmt in DATE_FORMATS:
            try:
                return datetime.strptime(text, fmt).date()
            except ValueError:
                continue
    return None


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _clean_one(f: FieldDef, value: Any, sub_union_ids: set[int] | None) -> Any:
    """The stored form of one value, or raise ValueError with the message."""
    if f.type in (cat.TEXT, cat.LONGTEXT):
        if not isinstance(value, str):
            raise ValueError("应为文本")
        value = value.strip()
        if f.max_length and len(value) > f.max_length:
            # A mobile one digit too long is a wrong number, not a long text: say how many digits.
            raise ValueError(_mobile_problem(value) if f.check == "mobile" else f"不能超过 {f.max_length} 个字符")
        if why := text_rule.problem(value, multiline=f.type == cat.LONGTEXT):
            raise ValueError(why)
        return _check(f, value)
    if f.type == cat.DATE:
        if not isinstance(value, (str, date)):
            raise ValueError("应为日期（YYYY-MM-DD）")
        parsed = parse_date(value)
        if parsed is None:
            raise ValueError("应为日期（YYYY-MM-DD）")
        return _check(f, parsed)
    if f.type == cat.CHOICE:
        if not isinstance(value, str):
            raise ValueError("应为文本")
        value = value.strip()
        if value not in f.choices:
            raise ValueError(f"「{value[:20]}」不是可选值，可选：{_choices(f)}")
        return value
    if f.type == cat.MULTI:
        if isinstance(value, str):
            value = [v for v in re.split(r"[、,，;；]", value) if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("应为文本列表")
        bad = [v for v in value if v.strip() not in f.choices]
        if bad:
            raise ValueError(f"「{bad[0][:20]}」不是可选值，可选：{_choices(f)}")
        return list(dict.fromkeys(v.strip() for v in value))
    if f.type == cat.LIST:
        if not isinstance(value, list):
            raise ValueError("应为列表")
        if f.max_items and len(value) > f.max_items:
            raise ValueError(f"最多 {f.max_items} 项")
        out = []
        for i, item in enumerate(value, start=1):
            if not isinstance(item, dict):
                raise ValueError(f"第 {i} 项应为对象")
            unknown = set(item) - {p.code for p in f.items}
            if unknown:
                raise ValueError(f"第 {i} 项有未知字段 {sorted(unknown)[0]}")
            entry = {}
            for part in f.items:
                raw = item.get(part.code)
                if _empty(raw):
                    if part.required:
                        raise ValueError(f"第 {i} 项缺少{part.label}")
                    continue
                try:
                    cleaned = _clean_one(part, raw, sub_union_ids)
                except ValueError as exc:
                    raise ValueError(f"第 {i} 项{part.label}{exc}") from None
                entry[part.code] = cleaned.isoformat() if isinstance(cleaned, date) else cleaned
            out.append(entry)
        return out
    if f.type == cat.REF:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("应为分工会编号（整数）")
        if sub_union_ids is not None and value not in sub_union_ids:
            raise ValueError(f"分工会 {value} 不存在")
        return value
    raise ValueError(f"未知类型 {f.type}")


_NAME_CHAR = re.compile(r"[\u3400-\u9fffA-Za-z·•.\- ]")
_PHONE_CHAR = re.compile(r"[0-9+\-() ]")
_STAFF_NO_CHAR = re.compile(r"[A-Za-z0-9\-_]")
_CHAR_NAMES = {" ": "空格", "\u3000": "全角空格", "\t": "制表符", "\n": "换行", "\r": "换行", "\u00a0": "不换行空格"}


def _named(ch: str) -> str:
    """How a refused character is shown: by name when invisible, marked 全角 when full width
    (a full-width digit is a digit to the eye: "不能包含「１」" alone would puzzle)."""
    if ch in _CHAR_NAMES:
        return _CHAR_NAMES[ch]
    if "\uff01" <= ch <= "\uff5e":
        return f"全角字符 {ch}（请用半角 {chr(ord(ch) - 0xfee0)}）"
    return ch


def _offending(value: str, allowed: re.Pattern[str]) -> str:
    """「不能包含「X」，」 naming the first character a rule refuses (the real reason), or ""."""
    bad = next((ch for ch in value if not allowed.fullmatch(ch)), None)
    if bad is None:
        return ""
    return f"不能包含「{_named(bad)}」，"


def _mobile_problem(value: str) -> str:
    digits = sum(ch in "0123456789" for ch in value)
    if digits != len(value):
        bad = next(ch for ch in value if ch not in "0123456789")
        return f"手机号码只能包含数字，不能包含「{_named(bad)}」"
    if len(value) != 11:
        return f"手机号码应为 11 位，这里是 {len(value)} 位"
    return "应为 1 开头的 11 位手机号码（第二位为 3–9）"


def _resident_id_problem(number: str) -> str:
    """Why a 居民身份证 number is not 18 characters of digits and a final digit or X."""
    bad = next((ch for i, ch in enumerate(number) if ch not in "0123456789"
                and not (i == len(number) - 1 and ch in "Xx")), None)
    if bad is not None:
        return f"身份证号码只能包含数字（末位可为 X），不能包含「{_named(bad)}」"
    if len(number) == 15:
        return "身份证号码应为 18 位，这里是 15 位的旧号码，请填写 18 位号码"
    return f"身份证号码应为 18 位，这里是 {len(number)} 位"


def _choices(f: FieldDef) -> str:
    shown = "、".join(f.choices[:12])
    return shown + ("……" if len(f.choices) > 12 else "")


def _check(f: FieldDef, value: Any) -> Any:
    rule = f.check
    if rule is None or value == "":
        return value
    if rule == "person_name" and not PERSON_NAME.match(value):
        raise ValueError(f"{_offending(value, _NAME_CHAR)}只能包含汉字、字母、间隔号「·」和空格")
    if rule == "mobile" and not MOBILE.match(value):
        raise ValueError(_mobile_problem(value))
    if rule == "phone" and not PHONE.match(value):
        raise ValueError(f"{_offending(value, _PHONE_CHAR)}只能包含数字、+、-、括号和空格")
    if rule == "staff_no" and not STAFF_NO.match(value):
        raise ValueError(f"{_offending(value, _STAFF_NO_CHAR)}只能包含字母、数字、- 和 _")
    if rule == "email":
        try:
            _email(value)
        except _MarshmallowError:
            raise ValueError("电子邮箱格式不正确") from None
    if rule == "id_number":
        return value.upper()
    if rule in ("past_date", "birth_date"):
        if value > local_today():
            raise ValueError("不能晚于今天")
        if value.year < 1900:
            raise ValueError("不能早于 1900 年")
    if rule == "birth_date" and (local_today().year - value.year) < 14:
        raise ValueError("年龄不足 14 周岁")
    return value


def clean(
    values: dict[str, Any],
    *,
    allowed: frozenset[str] | set[str],
    current: dict[str, Any] | None = None,
    sub_union_ids: set[int] | None = None,
    creating: bool = False,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate ``values`` (field code → raw value). Returns (cleaned, errors by code).

    ``allowed`` is what the caller may set; ``current`` the record before the change (None
    when creating), used for required fields and cross-field rules.
    """
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for code, raw in values.items():
        f = cat.BY_CODE.get(code)
        if f is None:
            errors[code] = "未知字段"
            continue
        if code not in allowed:
            errors[code] = "当前账号不能修改此字段"
            continue
        if _empty(raw):
            if f.required:
                errors[code] = "不能为空"
            else:
                cleaned[code] = [] if f.type in (cat.MULTI, cat.LIST) else None
            continue
        try:
            cleaned[code] = _clean_one(f, raw, sub_union_ids)
        except ValueError as exc:
            errors[code] = str(exc)
    if creating:
        for f in cat.CATALOGUE:
            if f.required and f.code not in values and f.code not in errors:
                errors[f.code] = "必填"
    merged = {**(current or {}), **cleaned}
    _cross_check(merged, cleaned, errors)
    return cleaned, errors


def _cross_check(record: dict[str, Any], changed: dict[str, Any], errors: dict[str, str]) -> None:
    """The ID number must be valid for its type and agree with birth date and gender."""
    number = record.get("id_number")
    if not number or "id_number" in errors:
        return
    touched = {"id_number", "id_type", "birth_date", "gender"} & set(changed)
    if not touched:
        return
    id_type = record.get("id_type") or RESIDENT_ID
    if id_type != RESIDENT_ID:
        if not OTHER_ID.match(number):
            errors["id_number"] = "证件号码应为 5–30 位字母或数字"
        return
    if any(ch not in "0123456789Xx" for ch in number):
        # stdnum folds full-width digits before checking, so a number typed in full width would
        # pass and be stored as typed, where the unique key cannot see it equals its half-width form.
        errors["id_number"] = _resident_id_problem(number)
        return
    try:
        ric.validate(number)
    except InvalidChecksum:
        errors["id_number"] = "身份证号码校验位错误"
        return
    except (InvalidLength, InvalidFormat):
        errors["id_number"] = _resident_id_problem(number)
        return
    except InvalidComponent:
        try:
            ric.get_birth_date(number)
            errors["id_number"] = f"身份证号码的地区码「{number[:6]}」不存在"
        except InvalidComponent:
            errors["id_number"] = f"身份证号码中的出生日期「{number[6:14]}」不是有效日期"
        return
    birth = ric.get_birth_date(number)
    gender = "男" if int(number[16]) % 2 else "女"
    mismatches = []
    if record.get("birth_date") and record["birth_date"] != birth and "birth_date" not in errors:
        mismatches.append(("birth_date", f"与身份证号码中的出生日期 {birth.isoformat()} 不一致"))
    if record.get("gender") and record["gender"] != gender and "gender" not in errors:
        mismatches.append(("gender", f"与身份证号码中的性别「{gender}」不一致"))
    for code, message in mismatches:
        # Blame the field the caller just changed; a new ID number is blamed for everything it
        # contradicts, in one message, so neither disagreement hides the other.
        target = code if code in changed and "id_number" not in changed else "id_number"
        errors[target] = f"{errors[target]}；{message}" if target in errors else message
