"""``python -m acl``: the translator consumer group (see acl.consumer)."""

from acl.consumer import main

if __name__ == "__main__":
    main()
