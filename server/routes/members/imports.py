"""Excel batch import of member records (校工会批量修改): the template, the upload, and the
progress and report of an import large enough to run as a job."""

from __future__ import annotations

import io

from flask import Response, current_app, jsonify, request, send_file
from flask.views import MethodView
from marshmallow import EXCLUDE, Schema, fields, validate

from server.config import DEFAULTS
from server.domain.members import excel, import_template, importer, imports
from server.domain.members.models import MemberImport
from server.domain.org import sub_unions
from server.routes.common import Blueprint
from server.routes.context import answer_after_commit, config, current_identity, db_session, runtime
from server.routes.schemas import JobOut

blp = Blueprint("members_import", __name__, url_prefix="/api/v1", description="会员批量导入（Excel）")

MAX_MB = excel.MAX_FILE_BYTES // (1024 * 1024)


class ImportForm(Schema):
    class Meta:
        unknown = EXCLUDE

    # Documentation only: the file itself is read from request.files.
    file = fields.Raw(load_default=None, metadata={
        "type": "string", "format": "binary",
        "description": f"按导入模板填写的 .xlsx 文件，不超过 {MAX_MB} MB、{excel.MAX_ROWS} 行"})
    dry_run = fields.Boolean(load_default=True, metadata={"description": "试导入：只检查并报告，不写入（缺省 true）"})
    mode = fields.String(load_default=importer.ALL_OR_NOTHING, validate=validate.OneOf(importer.MODES), metadata={
        "description": "all_or_nothing：有任何一行错误则全部不导入（缺省）；valid_only：只导入正确的行"})


class ImportErrorOut(Schema):
    row = fields.Integer(metadata={"description": "Excel 中的行号（与 Excel 左侧的行号相同；表头不一定在第 1 行）"})
    column = fields.String(allow_none=True, metadata={"description": "列名"})
    field = fields.String(allow_none=True, metadata={"description": "字段编码"})
    message = fields.String()


class ImportExampleOut(Schema):
    row = fields.Integer(metadata={"description": "第一处改动所在的行"})
    column = fields.String(allow_none=True, metadata={"description": "列名"})
    before = fields.String(allow_none=True, metadata={"description": "原样（敏感字段不显示）"})
    after = fields.String(allow_none=True, metadata={"description": "读作（敏感字段不显示）"})


class ImportNormalisationOut(Schema):
    kind = fields.String(metadata={"description": "fullwidth 全角转半角 / separators 去掉号码中的空格和短横线 / "
                                                  "country_code 去掉 +86 / name_spaces 姓名中的空格 / name_dots 间隔号 / "
                                                  "date_text 日期写法 / date_serial Excel 日期序列号 / merged_cells 合并单元格"})
    label = fields.String(metadata={"description": "中文说明"})
    count = fields.Integer(metadata={"description": "改动的单元格数"})
    example = fields.Nested(ImportExampleOut, metadata={"description": "第一处改动"})


class ImportReport(Schema):
    message = fields.String()
    dry_run = fields.Boolean()
    mode = fields.String()
    applied = fields.Boolean(metadata={"description": "是否已写入"})
    total = fields.Integer(metadata={"description": "数据行数"})
    created = fields.Integer(metadata={"description": "新增（试导入时为将新增）的人数"})
    updated = fields.Integer()
    unchanged = fields.Integer()
    error_rows = fields.Integer()
    error_count = fields.Integer()
    errors = fields.List(fields.Nested(ImportErrorOut))
    errors_truncated = fields.Boolean(metadata={"description": f"错误超过 {excel.MAX_REPORTED_ERRORS} 条时只列出前面的"})
    header_row = fields.Integer(allow_none=True, metadata={"description": "表头所在的行（两行表头时为第二行）"})
    notes = fields.List(fields.String(), metadata={
        "description": "读取时做了什么：跳过的标题行、按其他列名导入的列、按首格填充的合并单元格、未导入的表尾行"})
    normalisations = fields.List(fields.Nested(ImportNormalisationOut), metadata={
        "description": "读取时对写法的统一，按种类计数（试导入与正式导入相同），不会悄悄改动任何内容"})


class ImportJobOut(JobOut):
    status = fields.String(metadata={"description": "queued 排队中 / running 进行中 / done 完成 / failed 失败（未写入任何数据）"})
    dry_run = fields.Boolean()
    mode = fields.String()
    file_name = fields.String(metadata={"description": "上传的文件名"})
    rows_estimated = fields.Integer(metadata={"description": "表头以下的行数（含空行），用于显示进度"})
    phase = fields.String(allow_none=True, metadata={"description": "checking 检查中 / applying 写入中 / done"})
    rows_checked = fields.Integer(metadata={"description": "已检查的数据行数"})
    rows_written = fields.Integer(metadata={"description": "已写入（新增或更新）的人数"})
    applied = fields.Boolean(metadata={"description": "是否已写入"})
    report = fields.Nested(ImportReport, allow_none=True, metadata={"description": "完成后的导入报告，与直接导入的回答相同"})


@blp.route("/members/import-template.xlsx")
class ImportTemplate(MethodView):
    @blp.doc(responses={"200": {"description": "导入模板", "content": {
        excel.XLSX_MIME: {"schema": {"type": "string", "format": "binary"}}}}})
    @blp.requires("members.import")
    def get(self):
        """下载会员导入模板（列名、下拉选项、填写说明；分工会账号只列出本分工会）"""
        scope = current_identity().scope("members.import")
        names = [s.name for s in sub_unions.list_in_scope(db_session(), scope)]
        return send_file(io.BytesIO(import_template.template(names)), mimetype=excel.XLSX_MIME, as_attachment=True,
                         download_name="会员导入模板.xlsx", max_age=0)


@blp.route("/members/import")
class Import(MethodView):
    @blp.arguments(ImportForm, location="form", content_type="multipart/form-data")
    @blp.response(200, ImportReport)
    @blp.alt_response(202, schema=ImportJobOut,
                      description=f"超过 {DEFAULTS['IMPORT_SYNC_MAX_ROWS']} 行（可配置 UNION_IMPORT_SYNC_MAX_ROWS）：试导入或正式导入由后台任务执行，"
                                  "轮询 GET /api/v1/members/imports/{id} 查看进度与报告")
    @blp.alt_response(413, description="文件过大或行数过多")
    @blp.alt_response(422, description="文件无效；或正式导入（all_or_nothing）时有错误行，返回同样的报告，未写入任何数据")
    @blp.requires("members.import", "members.write")
    def post(self, args):
        """批量导入会员（新增或按工号/证件号码更新）；先试导入（dry_run=true）查看报告，再正式导入"""
        upload = request.files.get("file")
        session = db_session()
        rt = runtime()
        started = imports.start(session, current_identity(), upload.stream if upload else io.BytesIO(),
                                filename=upload.filename if upload else None, dry_run=args["dry_run"],
                                mode=args["mode"], imports_dir=imports_dir(), sync_limit=config("IMPORT_SYNC_MAX_ROWS"))
        if started.record is None:
            report = started.report
            if not report["dry_run"] and not report["applied"]:
                # Nothing written; the same report, as an error answer (the request rolls back).
                resp = jsonify({"status": 422, "code": "import_rejected", **report})
                resp.status_code = 422
                return resp
            return report
        record = started.record
        imports.enqueue(session, rt.queue, record, imports_dir())
        if rt.queue.inline:
            # The embedded default runs the job in this process as soon as the request's
            # transaction commits: answer after that, with the finished job, not "queued".
            answer_after_commit(lambda: accepted(session, record, refresh=True))
        return accepted(session, record)


@blp.route("/members/imports/<int:import_id>")
class ImportJob(MethodView):
    @blp.response(200, ImportJobOut)
    @blp.requires("members.import")
    def get(self, import_id):
        """导入任务的进度与报告（仅发起人可见）：已检查行数、已写入行数；完成后给出与直接导入相同的报告"""
        record = imports.get_own(db_session(), current_identity(), import_id)
        return imports.describe(record, job_state(record))


def accepted(session, record: MemberImport, *, refresh: bool = False) -> Response:  # noqa: ANN001
    """202 with the job's record (re-read first when the job may have run since)."""
    if refresh:
        session.refresh(record)
    resp = jsonify(ImportJobOut().dump(imports.describe(record, job_state(record))))
    resp.status_code = 202
    return resp


def imports_dir() -> str:
    return imports.uploads_dir(current_app.instance_path)


def job_state(record: MemberImport) -> dict | None:
    """The RQ job's status and progress while the record is unfinished (None once it is, or
    when the queue no longer knows the job)."""
    if record.status not in (imports.QUEUED, imports.RUNNING):
        return None
    job = runtime().queue.fetch(record.job_id)
    if job is None:
        return None
    return {"status": job.get_status(refresh=False), "meta": job.meta}
