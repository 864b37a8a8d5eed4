"""HTTP face of membership: applications to join, transfers between sub-unions, status changes."""

from server.routes.membership import applications, status_changes, transfers

blueprints = [applications.blp, transfers.blp, status_changes.blp]
