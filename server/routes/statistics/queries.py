"""Statistics: the universal query, summaries for charts, presets, and Excel exports."""

from __future__ import annotations

import io
import os

from flask import current_app, jsonify, send_file
from flask.views import MethodView
from marshmallow import Schema, validate
from marshmallow import fields as mf

from server.domain.statistics import exports, stats
from server.domain.statistics import query as ql
from server.routes.common import Blueprint
from server.routes.context import current_identity, db_session, runtime
from server.routes.schemas import JobOut, LocalDateTime, PageArgs

blp = Blueprint("stats", __name__, url_prefix="/api/v1/stats", description="统计与导出（万能查询）")

FILTER_DOC = {
    "description": '查询条件：{"all": […]} / {"any": […]} / {"not": …} 可嵌套；条件 {"field": 字段编码, "op": 运算符, '
                   '"value": 值}，运算符 eq、ne、in、not_in、contains、gte、lte、between、is_empty、not_empty。'
                   "字段见 GET /api/v1/stats/fields",
    "type": "object",
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def filter_arg() -> mf.Raw:
    """A query-language filter: checked by the query language itself, whose errors name the
    path of each bad condition (``filter.all[1].op``), not by marshmallow."""
    return mf.Raw(load_default=None, allow_none=True, metadata=FILTER_DOC)


def codes_arg(description: str | None = None) -> mf.Raw:
    """A list of catalogue field codes, checked by the query language (unknown and
    not-permitted codes are named in its 422)."""
    doc = {"type": "array", "items": {"type": "string"}} | ({"description": description} if description else {})
    return mf.Raw(load_default=None, allow_none=True, metadata=doc)


class QueryIn(PageArgs):
    filter = filter_arg()
    fields = codes_arg("要返回的字段编码")
    sort = codes_arg("排序字段，前加 - 为倒序")


class QueryOut(Schema):
    total = mf.Integer()
    page = mf.Integer()
    page_size = mf.Integer()
    fields = mf.List(mf.String())
    labels = mf.List(mf.String(), metadata={"description": "字段的中文名称，与 fields 一一对应"})
    rows = mf.List(mf.Dict(), metadata={"description": "每行：id、所选字段；敏感字段按角色脱敏（masked_fields 列出）"})


class SummaryIn(Schema):
    filter = filter_arg()
    group_by = mf.Raw(required=True, metadata={"type": "array", "items": {"type": "string"},
                                                   "description": "一到两个分组字段编码，如 [\"sub_union\", \"age_band\"]"})


class SummaryOut(Schema):
    total = mf.Integer()
    dimensions = mf.List(mf.Dict())
    groups = mf.List(mf.Dict(), metadata={"description": "每组：keys、labels、count"})
    totals = mf.Dict(metadata={"description": "二维统计的行合计与列合计"})
    chart = mf.Dict(metadata={"description": "图表数据：labels 与 series[{name, data}]"})


class QueryFieldOut(Schema):
    code = mf.String()
    label = mf.String()
    type = mf.String()
    ops = mf.List(mf.String())
    derived = mf.Boolean()
    sensitive = mf.Boolean()
    groupable = mf.Boolean()
    choices = mf.List(mf.String())
    help = mf.String()


class FieldsOut(Schema):
    fields = mf.List(mf.Nested(QueryFieldOut))
    ops = mf.Dict()
    templates = mf.List(mf.Dict(), metadata={"description": "命名导出模板"})


class PresetIn(Schema):
    name = mf.String(required=True, validate=validate.Length(min=1, max=100))
    description = mf.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    filter = filter_arg()
    fields = codes_arg()
    group_by = codes_arg()
    shared = mf.Boolean(load_default=False, metadata={"description": "true：全校工会账号可见；false：仅本人"})


class PresetOut(Schema):
    id = mf.String(metadata={"description": "内置方案为英文编码，保存的方案为数字"})
    name = mf.String()
    description = mf.String(allow_none=True)
    filter = mf.Raw()
    fields = mf.Raw(allow_none=True)
    group_by = mf.Raw(allow_none=True)
    builtin = mf.Boolean()
    shared = mf.Boolean()
    mine = mf.Boolean()
    created_at = LocalDateTime(allow_none=True)


class RunIn(PageArgs):
    """Which page of a preset's rows (a summary preset has one page)."""


class RunOut(Schema):
    preset = mf.Dict()
    kind = mf.String(metadata={"description": "summary：分组统计；rows：名单"})
    summary = mf.Nested(SummaryOut)
    result = mf.Nested(QueryOut)


class ExportIn(Schema):
    filter = filter_arg()
    fields = codes_arg("导出字段，缺省为全部 44 项")
    group_by = codes_arg("给出时附加汇总表与柱状图")
    template = mf.String(load_default=None, allow_none=True,
                             metadata={"description": "命名模板：provincial（河北省职工服务平台 / 秦工之家）"})


class ExportOut(JobOut):
    status = mf.String(metadata={"description": "queued / running / done / failed / expired（文件已过保留期删除）"})
    total = mf.Integer()
    rows_written = mf.Integer()
    template = mf.String(allow_none=True)
    group_by = mf.Raw(allow_none=True)
    download_name = mf.String(allow_none=True)
    download_url = mf.String(allow_none=True)


@blp.route("/fields")
class QueryFields(MethodView):
    @blp.response(200, FieldsOut)
    @blp.requires("stats.read")
    def get(self):
        """可查询的字段（目录字段与派生字段）、各类型可用的运算符、命名导出模板"""
        return {"fields": [f.public() for f in ql.FIELDS.values()], "ops": ql.OP_LABELS,
                "templates": exports.templates()}


@blp.route("/query")
class Query(MethodView):
    @blp.arguments(QueryIn)
    @blp.response(200, QueryOut)
    @blp.requires("stats.read")
    def post(self, body):
        """万能查询：按条件筛选本账号范围内的会员，返回总数与所选字段（敏感字段按角色脱敏）"""
        return stats.run_query(db_session(), current_identity(), body["filter"], body["fields"], body["sort"],
                               body["page"], body["page_size"])


@blp.route("/summary")
class Summary(MethodView):
    @blp.arguments(SummaryIn)
    @blp.response(200, SummaryOut)
    @blp.requires("stats.read")
    def post(self, body):
        """分组统计：按一到两个字段计数，含合计与可直接绘图的 labels / series"""
        return stats.summarize(db_session(), current_identity(), body["filter"], body["group_by"])


@blp.route("/presets")
class Presets(MethodView):
    @blp.response(200, PresetOut(many=True))
    @blp.requires("stats.read")
    def get(self):
        """查询方案：内置常用统计、本人保存的与共享的方案"""
        return stats.list_presets(db_session(), current_identity())

    @blp.arguments(PresetIn)
    @blp.response(201, PresetOut)
    @blp.requires("stats.read")
    def post(self, body):
        """保存查询方案（shared=true 时全校工会账号可见；运行时总按运行者的范围统计）"""
        return stats.create_preset(db_session(), current_identity(), body)


@blp.route("/presets/<string:preset_id>")
class PresetItem(MethodView):
    @blp.response(204)
    @blp.requires("stats.read")
    def delete(self, preset_id):
        """删除本人保存的查询方案"""
        stats.delete_preset(db_session(), current_identity(), preset_id)


@blp.route("/presets/<string:preset_id>/run")
class PresetRun(MethodView):
    @blp.arguments(RunIn)
    @blp.response(200, RunOut)
    @blp.requires("stats.read")
    def post(self, body, preset_id):
        """运行查询方案（按运行者的范围）：分组方案返回统计，其余返回名单"""
        return stats.run_preset(db_session(), current_identity(), preset_id, body["page"], body["page_size"])


@blp.route("/export")
class Export(MethodView):
    @blp.arguments(ExportIn)
    @blp.response(200, {"type": "string", "format": "binary"}, content_type=XLSX,
                  description="不超过 5000 行：直接返回 .xlsx")
    @blp.alt_response(202, schema=ExportOut, description="超过 5000 行：后台任务导出，轮询 GET /api/v1/exports/{id}")
    @blp.requires("members.export")
    def post(self, body):
        """一键导出 Excel：明细表（中文表头、冻结首行、日期为日期），给出 group_by 时附汇总表与柱状图"""
        session = db_session()
        limit = int(current_app.config.get("EXPORT_SYNC_MAX_ROWS", exports.SYNC_LIMIT))
        started = exports.start(session, current_identity(), body, sync_limit=limit)
        if started.export is None:
            return send_file(io.BytesIO(started.content), mimetype=XLSX, as_attachment=True,
                             download_name=started.download_name)
        exports.enqueue(session, runtime().queue, started.export, exports_dir(),
                        retention_days=current_app.config["EXPORT_RETENTION_DAYS"])
        response = jsonify(ExportOut().dump(exports.describe(started.export)))
        response.status_code = 202
        return response


def exports_dir() -> str:
    """Where export files live: <instance>/exports (the worker gets the same UNION_INSTANCE_PATH)."""
    return os.path.join(current_app.instance_path, "exports")
