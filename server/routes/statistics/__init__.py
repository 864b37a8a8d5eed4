"""HTTP face of statistics: queries, summaries, presets, exports."""

from server.routes.statistics import exports, queries

blueprints = [queries.blp, exports.blp]
