"""Planning: the request, its checks, model identity, cells and the one rule "is this record current",
search proposals and selection, the planner. Nothing is written and nothing is trained here; every
usage error (exit 2) is raised here."""
