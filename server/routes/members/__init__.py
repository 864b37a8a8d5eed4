"""HTTP face of the member registry: records and the catalogue, the printed 登记表, Excel import."""

from server.routes.members import forms, imports, records

blueprints = [records.blp, forms.blp, imports.blp]
