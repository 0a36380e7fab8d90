//! ocf:ferro:drbd — drop-in for the reference agent; written in its own issue.

super::pending_agent!(Drbd, "drbd");
