"""Member records: validation against the catalogue, the registry, import, printed form."""
