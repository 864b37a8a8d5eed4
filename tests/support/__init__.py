"""Helpers shared by every area's tests: error assertions, clients, the world and its factories."""
