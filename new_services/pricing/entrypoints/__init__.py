"""How pricing is run: the HTTP app, the projector, the command line."""
