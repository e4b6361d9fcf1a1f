"""A sending's recipients as the marketer sees them: the detail page's section and its CSV."""
