"""What pricing does: apply events to its read model, answer reads."""
