"""Excel batch import of member records (校工会批量修改): the template and the upload."""

from __future__ import annotations

import io

from flask import jsonify, request, send_file
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import EXCLUDE, Schema, fields, validate

from server.auth import current_identity, require
from server.domain import sub_unions
from server.domain.errors import Invalid
from server.domain.members import excel
from server.routes.common import db_session

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
    mode = fields.String(load_default=excel.ALL_OR_NOTHING, validate=validate.OneOf(excel.MODES), metadata={
        "description": "all_or_nothing：有任何一行错误则全部不导入（缺省）；valid_only：只导入正确的行"})


class ImportErrorOut(Schema):
    row = fields.Integer(metadata={"description": "Excel 中的行号（表头为第 1 行）"})
    column = fields.String(allow_none=True, metadata={"description": "列名"})
    field = fields.String(allow_none=True, metadata={"description": "字段编码"})
    message = fields.String()


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


@blp.route("/members/import-template.xlsx")
class ImportTemplate(MethodView):
    @blp.doc(responses={"200": {"description": "导入模板", "content": {
        excel.XLSX_MIME: {"schema": {"type": "string", "format": "binary"}}}}})
    def get(self):
        """下载会员导入模板（列名、下拉选项、填写说明；分工会账号只列出本分工会）"""
        scope = require("members.import")
        names = [s.name for s in sub_unions.list_in_scope(db_session(), scope)]
        return send_file(io.BytesIO(excel.template(names)), mimetype=excel.XLSX_MIME, as_attachment=True,
                         download_name="会员导入模板.xlsx", max_age=0)


@blp.route("/members/import")
class Import(MethodView):
    @blp.arguments(ImportForm, location="form", content_type="multipart/form-data")
    @blp.response(200, ImportReport)
    @blp.alt_response(413, description="文件过大或行数过多")
    @blp.alt_response(422, description="文件无效；或正式导入（all_or_nothing）时有错误行，返回同样的报告，未写入任何数据")
    def post(self, args):
        """批量导入会员（新增或按工号/证件号码更新）；先试导入（dry_run=true）查看报告，再正式导入"""
        identity = current_identity()
        require("members.import")
        require("members.write")
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise Invalid({"file": "请选择要上传的 .xlsx 文件"}, "请选择要上传的 .xlsx 文件", code="file_required")
        if not upload.filename.lower().endswith(".xlsx"):
            raise excel.BadFile("文件不是有效的 xlsx（请上传按导入模板填写的 .xlsx 文件）")
        stream = upload.stream
        stream.seek(0, io.SEEK_END)
        size = stream.tell()
        stream.seek(0)
        if size > excel.MAX_FILE_BYTES:
            raise excel.TooLarge(f"导入文件不能超过 {MAX_MB} MB，请分批导入")
        if size == 0:
            raise excel.BadFile("文件是空的，不是有效的 xlsx")
        session = db_session()
        names: dict[str, int] = {}
        for sub in sub_unions.options(session):
            names.setdefault(sub.code, sub.id)
        for sub in sub_unions.options(session):
            names[sub.name] = sub.id  # a name wins over a code spelled the same
        rows = excel.read_rows(stream, sub_unions=names, max_rows=excel.MAX_ROWS)
        report = excel.import_rows(session, identity, rows, dry_run=args["dry_run"], mode=args["mode"],
                                   filename=upload.filename)
        body = {"message": excel.summary(report), **report}
        if not report["dry_run"] and not report["applied"]:
            # Nothing written; the same report, as an error answer (the request rolls back).
            resp = jsonify({"status": 422, "code": "import_rejected", **body})
            resp.status_code = 422
            return resp
        return body
