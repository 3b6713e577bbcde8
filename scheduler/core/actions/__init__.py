"""Actions run in order each cycle (allocate, reclaim, preempt); they meet plugins only via the session."""
