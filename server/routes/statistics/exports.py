"""Export jobs: progress, then the file, for the account that asked for it only."""

from __future__ import annotations

import os

from flask import send_file
from flask.views import MethodView

from server.core.errors import Conflict, NotFound
from server.domain.statistics import exports
from server.routes.common import Blueprint
from server.routes.context import current_identity, db_session
from server.routes.schemas import PageArgs, paged
from server.routes.statistics.queries import XLSX, ExportOut, exports_dir

blp = Blueprint("exports", __name__, url_prefix="/api/v1/exports", description="导出任务")


@blp.route("")
class ExportList(MethodView):
    @paged(blp, PageArgs, ExportOut, "ExportPage")
    @blp.requires("members.export")
    def get(self, args):
        """我的导出任务（最新在前）；文件保留期满后删除，记录保留"""
        total, rows = exports.list_own(db_session(), current_identity(), page=args["page"],
                                       page_size=args["page_size"])
        return total, [exports.describe(e) for e in rows]


@blp.route("/<int:export_id>")
class ExportItem(MethodView):
    @blp.response(200, ExportOut)
    @blp.requires("members.export")
    def get(self, export_id):
        """导出进度：已写行数 / 总行数；完成后给出下载地址（仅发起人可见）"""
        return exports.describe(exports.get_own(db_session(), current_identity(), export_id))


@blp.route("/<int:export_id>/download")
class ExportDownload(MethodView):
    @blp.errors(409, 410)
    @blp.response(200, {"type": "string", "format": "binary"}, content_type=XLSX)
    @blp.requires("members.export")
    def get(self, export_id):
        """下载导出文件（仅发起人）"""
        export = exports.get_own(db_session(), current_identity(), export_id)
        exports.check_downloadable(export)
        if export.status != "done":
            raise Conflict("导出尚未完成，请稍后再试", code="export_not_ready")
        path = exports.file_path(exports_dir(), export)
        if not os.path.exists(path):
            raise NotFound("导出文件已不存在，请重新导出")
        return send_file(path, mimetype=XLSX, as_attachment=True, download_name=export.download_name)
