"""Records: the typed, versioned result record and its store, claims, grouping into cells, baseline files."""
