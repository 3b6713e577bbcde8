"""Test helpers that benchmarks may import too: scratch databases, the store's invariant walker,
and the rule that a missing service fails in CI instead of skipping."""
