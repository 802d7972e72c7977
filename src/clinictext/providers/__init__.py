"""SMS providers behind one protocol; nothing outside this package knows their field names."""
