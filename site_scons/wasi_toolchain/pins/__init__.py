"""The pins: the toolchain.lock file parsed into types, and the locators that say where each pinned file comes from."""
