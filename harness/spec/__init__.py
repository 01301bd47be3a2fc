"""Declared, validated specs: recipe, tasks, models, suites, search blocks. No torch; imports only the foundation."""
