"""A user's own project: the `scons-wasi` command (`scons-wasi init`) and the files it writes (the lock, a starter
SConstruct, and the small site_scons/ file through which SCons finds the installed tool)."""
