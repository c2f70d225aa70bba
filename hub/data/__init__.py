"""Packaged data files of the hub (members.toml, schemes.toml); a package so wheels ship them."""
