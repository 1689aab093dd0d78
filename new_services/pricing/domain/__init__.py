"""Pure pricing logic: standard library only, no I/O."""
