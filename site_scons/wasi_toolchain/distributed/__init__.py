"""Distributed compilation on distcc: the host list, the client's compile runs, the worker, the per-host check."""
