//! ocf:ferro:IPaddr2 — drop-in for the reference agent; written in its own issue.

super::pending_agent!(IPaddr2, "IPaddr2");
