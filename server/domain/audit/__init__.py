"""The audit log as school-level staff read it (writing it is :mod:`server.core.audit`)."""
