"""Column types shared by the models."""

from sqlalchemy import BigInteger, Integer

# SQLite only auto-increments INTEGER PRIMARY KEY; MySQL gets a BIGINT.
BigId = BigInteger().with_variant(Integer, "sqlite")
