"""New services, each owning its database; contracts/ holds the event schemas shared with the ACL."""
