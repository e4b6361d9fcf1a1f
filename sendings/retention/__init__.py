"""The retention policy: recipient rows of long-finished sendings are removed, counts kept."""
