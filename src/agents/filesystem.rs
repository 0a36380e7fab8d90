//! ocf:ferro:Filesystem — drop-in for the reference agent; written in its own issue.

super::pending_agent!(Filesystem, "Filesystem");
