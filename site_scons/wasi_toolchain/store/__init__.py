"""The content-addressed store: its directory layout and locks, obtaining pinned files into it (HTTP, pip,
local copies), unpacking archives, and the store commands (verify, prune, distdir)."""
