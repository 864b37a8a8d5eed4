"""Business rules, one module per area. Plain SQLAlchemy; never imports Flask."""
