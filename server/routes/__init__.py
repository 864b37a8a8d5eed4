"""flask-smorest blueprints, one per area: parse, call the domain, render."""
