//! ocf:ferro:nfsserver — drop-in for the reference agent; written in its own issue.

super::pending_agent!(Nfsserver, "nfsserver");
