"""Plugins: placement scoring, gang, fair share. They meet the actions only through session hooks."""
