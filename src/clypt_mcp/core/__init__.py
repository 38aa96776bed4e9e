"""The core service: rules for links, tags, folders, clicks and keys, free of any transport."""
