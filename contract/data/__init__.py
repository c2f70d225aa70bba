"""The alliance's reference data (members.toml, schemes.toml); a package so wheels ship it."""
