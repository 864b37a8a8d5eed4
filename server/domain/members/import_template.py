"""The member import template (导入模板): a header row of every catalogue field's Chinese label,
drop-down lists for the choice columns, and a 说明 sheet that says how to fill it in. Reading a
filled-in file is :mod:`server.domain.members.excel`.
"""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from server.domain.members import catalogue as cat
from server.domain.members.excel import MAX_FILE_BYTES, MAX_ROWS, NOTES, OPTIONS, SHEET

_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_REQUIRED_FILL = PatternFill("solid", fgColor="FCE4D6")
_TITLE_FONT = Font(bold=True, size=14)
_BOLD = Font(bold=True)


def format_hint(f: cat.FieldDef) -> str:
    """How a cell of this column is written, in one line."""
    if f.code == "sub_union":
        return "分工会名称，从下拉列表中选择；分工会账号可留空（即本分工会）"
    if f.code == "id_number":
        return "请按文本填写；居民身份证须为 18 位、校验位正确，且与出生日期、性别一致"
    if f.code == "staff_no":
        return "用于匹配已有会员：工号相同即更新该会员；请按文本填写"
    if f.type == cat.DATE:
        return "日期，如 2015-03-02（也可写 2015年3月2日、2015.3.2、2015/3/2 或 20150302；须写到日）"
    if f.type == cat.CHOICE:
        return "从下拉列表中选择"
    if f.type == cat.MULTI:
        return "可多选，多个用「、」分隔，如 工会委员、会员代表"
    if f.type == cat.LIST:
        return ("每个子女写作 姓名/性别/出生日期，多个用「；」分隔，如 张三/男/2015-03-02；李四/女/2018-05-01；"
                "没有子女写「无」")
    if f.type == cat.LONGTEXT:
        return f"文本，不超过 {f.max_length} 字，可换行"
    return f"文本，不超过 {f.max_length} 字"


def _editors(f: cat.FieldDef) -> str:
    if f.editable_by == cat.SCHOOL_ONLY:
        return "仅校工会"
    return "校工会、分工会" + ("、本人" if cat.SELF in f.editable_by else "")


def _width(f: cat.FieldDef) -> float:
    if f.type == cat.DATE:
        width = 13
    elif f.type in (cat.LONGTEXT, cat.LIST):
        width = 36
    elif f.type == cat.MULTI:
        width = 24
    elif f.type == cat.REF:
        width = 22
    elif f.type == cat.CHOICE:
        width = min(24, max(len(c) for c in f.choices) * 2 + 4)
    elif f.code == "id_number":
        width = 22
    else:
        width = min(32, max(10, (f.max_length or 20) // 3))
    return max(width, len(f.label) * 2 + 3)


def _text_cell(cell, value: str) -> None:  # noqa: ANN001
    """A string that stays a string, even one starting with = + - @ (never a formula)."""
    cell.value = value
    if value[:1] in ("=", "+", "-", "@"):
        cell.data_type = "s"
        cell.quotePrefix = True


def template(sub_union_names: list[str]) -> bytes:
    """The import template: a header row of every catalogue field's Chinese label, drop-down
    lists for choice columns (their values on the hidden sheet 选项) and a 说明 sheet."""
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    notes = wb.create_sheet(NOTES)
    options = wb.create_sheet(OPTIONS)
    options.sheet_state = "hidden"

    option_col = 0
    last_row = MAX_ROWS + 1
    for col, f in enumerate(cat.CATALOGUE, start=1):
        letter = get_column_letter(col)
        cell = ws.cell(row=1, column=col, value=f.label)
        cell.font = _BOLD
        cell.fill = _REQUIRED_FILL if f.required else _HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center")
        tip = f"{f.label}{'（必填）' if f.required else ''}\n{format_hint(f)}"
        if f.help:
            tip += f"\n{f.help}"
        if f.editable_by == cat.SCHOOL_ONLY:
            tip += "\n仅校工会账号可修改"
        cell.comment = Comment(tip, "工会智慧平台", width=260, height=110)
        dim = ws.column_dimensions[letter]
        dim.width = _width(f)
        if f.type == cat.DATE:
            dim.number_format = "yyyy-mm-dd"
        elif f.type in (cat.TEXT, cat.LONGTEXT):
            dim.number_format = "@"  # staff and ID numbers stay text, leading zeros and all

        values = list(f.choices) if f.type in (cat.CHOICE, cat.MULTI) else (
            list(sub_union_names) if f.type == cat.REF else [])
        if not values:
            continue
        option_col += 1
        opt_letter = get_column_letter(option_col)
        options.cell(row=1, column=option_col, value=f.label)
        for i, value in enumerate(values, start=2):
            _text_cell(options.cell(row=i, column=option_col), value)
        options.column_dimensions[opt_letter].width = _width(f)
        dv = DataValidation(
            type="list",
            formula1=f"'{OPTIONS}'!${opt_letter}$2:${opt_letter}${len(values) + 1}",
            allow_blank=True,
        )
        if f.type == cat.MULTI:
            # Several values joined by 、 are not one list item: offer the list, allow any text.
            dv.showErrorMessage = False
            dv.promptTitle, dv.prompt = f.label, "可多选，多个用「、」分隔"
            dv.showInputMessage = True
        else:
            dv.showErrorMessage = True
            dv.errorTitle, dv.error = f.label, "请从下拉列表中选择"
        dv.add(f"{letter}2:{letter}{last_row}")
        ws.add_data_validation(dv)

    ws.freeze_panes = "B2"
    ws.row_dimensions[1].height = 22
    _write_notes(notes)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _write_notes(ws) -> None:  # noqa: ANN001
    rules = [
        "填写说明",
        "1. 在「会员信息」工作表中填写，一行一名会员；表头为列名，请勿修改列名（不需要的列可以删除，「姓名」列必须保留；表头上方可以有标题行，导入时跳过）。",
        "2. 先按「工号」匹配已有会员，没有工号或未匹配时按「证件号码」匹配：匹配到即更新该会员，否则新增会员。",
        "3. 更新时留空的单元格保持原值不变；只有填写的内容会被修改。",
        "4. 必填列（表头为橙色）：姓名、性别、出生日期、所属分工会；分工会账号「所属分工会」可留空，即本分工会，"
        "且只能导入本分工会的会员。",
        "5. 日期写作 2015-03-02（也可 2015年3月2日、2015.3.2、2015/3/2、20150302，须写到日）；多选项用「、」分隔；"
        "子女信息写作 姓名/性别/出生日期，多个子女用「；」分隔。",
        "6. 工号、证件号码请按文本填写，以免 Excel 把长数字变成科学计数法或去掉开头的 0。",
        "7. 不接受公式：含公式的单元格会被判为错误，不会计算，也不会保存。",
        f"8. 每个文件不超过 {MAX_FILE_BYTES // (1024 * 1024)} MB、{MAX_ROWS} 行；建议先「试导入」查看结果，再正式导入。",
        "9. 常见的其他列名（如 身份证号、出生年月、手机、部门）也能识别；全角数字和字母按半角读取，证件号码、手机号码中的"
        "空格和短横线会去掉，合并单元格按首格内容填入每一行。每一项改动都列在试导入报告中。",
    ]
    for i, line in enumerate(rules, start=1):
        cell = ws.cell(row=i, column=1, value=line)
        if i == 1:
            cell.font = _TITLE_FONT
    start = len(rules) + 2
    header = ("列名", "字段编码", "类型", "必填", "填写格式", "可选值", "可修改者")
    types = {cat.TEXT: "文本", cat.LONGTEXT: "长文本", cat.DATE: "日期", cat.CHOICE: "单选",
             cat.MULTI: "多选", cat.LIST: "列表", cat.REF: "分工会"}
    for col, title in enumerate(header, start=1):
        cell = ws.cell(row=start, column=col, value=title)
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
    for row, f in enumerate(cat.CATALOGUE, start=start + 1):
        choices = "、".join(f.choices) if f.choices else ""
        line = (f.label, f.code, types[f.type], "是" if f.required else "", format_hint(f) + (
            f"（{f.help}）" if f.help else ""), choices, _editors(f))
        for col, value in enumerate(line, start=1):
            cell = ws.cell(row=row, column=col, value=value)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    for letter, width in zip("ABCDEFG", (22, 24, 8, 6, 60, 60, 16), strict=True):
        ws.column_dimensions[letter].width = width
