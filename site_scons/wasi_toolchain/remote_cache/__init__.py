"""The shared build cache over HTTP (bazel-remote's layout): its settings, the entry envelope, the client."""
